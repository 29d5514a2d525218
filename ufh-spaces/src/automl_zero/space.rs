//! The space of programs: random programs and AutoML-Zero's mutations.

use rand::Rng;
use rand::seq::IndexedRandom;
use ufh_search::symbolic::{Space, SymbolicSpace, Value};
use ufh_search::{SearchRng, SearchSpace};

use super::op::{DataKind, Op};
use super::program::{Component, Instruction, MemoryLayout, Program};
use crate::gaussian::standard_normal;

/// One of AutoML-Zero's mutation types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Mutation {
    /// Alter one argument of one instruction: an input or output address, or its
    /// data (a constant's value by a log-normal factor, an element index, or a
    /// distribution parameter). An instruction without arguments (a no-op) is
    /// randomized instead.
    AlterParam,
    /// Replace one instruction by a random one of its component's ops.
    RandomizeInstruction,
    /// Replace every instruction of one component function by random ones,
    /// keeping its size.
    RandomizeComponent,
    /// Insert a random instruction at a random position of a component function
    /// below its maximum size.
    InsertInstruction,
    /// Remove a random instruction of a component function above its minimum size.
    RemoveInstruction,
    /// Leave the program as it is.
    Identity,
}

/// Size bounds of one component function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SizeBounds {
    /// Size of initial programs.
    pub init: usize,
    /// Smallest size a removal may leave.
    pub min: usize,
    /// Largest size an insertion may reach.
    pub max: usize,
}

impl SizeBounds {
    /// A component function whose size never changes.
    pub const fn fixed(size: usize) -> Self {
        Self {
            init: size,
            min: size,
            max: size,
        }
    }
}

/// How the first population is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum InitialProgram {
    /// Random instructions of each component's ops, at the initial sizes.
    Random,
    /// No-ops at the initial sizes: search from empty code.
    NoOp,
}

/// Settings of a [`ProgramSpace`]; [`ProgramSpaceConfig::build`] checks them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProgramSpaceConfig {
    /// Elements per vector, F (the evaluator's const generic must match).
    pub features: usize,
    /// Addresses of each kind.
    pub layout: MemoryLayout,
    /// Ops allowed in Setup.
    pub setup_ops: Vec<Op>,
    /// Ops allowed in Predict.
    pub predict_ops: Vec<Op>,
    /// Ops allowed in Learn.
    pub learn_ops: Vec<Op>,
    /// Size bounds of Setup.
    pub setup_size: SizeBounds,
    /// Size bounds of Predict.
    pub predict_size: SizeBounds,
    /// Size bounds of Learn.
    pub learn_size: SizeBounds,
    /// Mutation types, drawn uniformly.
    pub mutations: Vec<Mutation>,
    /// Probability that a child is mutated at all; otherwise it is a copy of its
    /// parent (AutoML-Zero's `mutate_prob`).
    pub mutate_prob: f64,
    /// The first population.
    pub initial: InitialProgram,
}

/// Why a [`ProgramSpaceConfig`] is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid AutoML-Zero space: {0}")]
pub struct SpaceError(pub String);

impl ProgramSpaceConfig {
    /// The ops of `component`.
    pub fn ops(&self, component: Component) -> &[Op] {
        match component {
            Component::Setup => &self.setup_ops,
            Component::Predict => &self.predict_ops,
            Component::Learn => &self.learn_ops,
        }
    }

    /// The size bounds of `component`.
    pub fn size(&self, component: Component) -> SizeBounds {
        match component {
            Component::Setup => self.setup_size,
            Component::Predict => self.predict_size,
            Component::Learn => self.learn_size,
        }
    }

    /// Checks the settings.
    pub fn build(self) -> Result<ProgramSpace, SpaceError> {
        let fail = |m: String| Err(SpaceError(m));
        if !(1..=256).contains(&self.features) {
            return fail(format!("features {} not in 1..=256", self.features));
        }
        if self.layout.scalars < 2 || self.layout.vectors < 1 {
            return fail(format!(
                "layout {:?} lacks the reserved label, prediction and feature addresses",
                self.layout
            ));
        }
        for component in Component::ALL {
            let size = self.size(component);
            if !(size.min <= size.init && size.init <= size.max) {
                return fail(format!(
                    "{component:?} sizes need min <= init <= max, got {size:?}"
                ));
            }
            let ops = self.ops(component);
            if let Some(op) = ops.iter().find(|&&op| !self.layout.supports(op)) {
                return fail(format!(
                    "{component:?} op {op} needs addresses the layout {:?} lacks",
                    self.layout
                ));
            }
            if ops.is_empty() && size.max > 0 && self.initial == InitialProgram::Random {
                return fail(format!("{component:?} has room for code but no ops"));
            }
        }
        if self.mutations.is_empty() {
            return fail("no mutation type".into());
        }
        if !(0.0..=1.0).contains(&self.mutate_prob) {
            return fail(format!("mutate_prob {} not in [0, 1]", self.mutate_prob));
        }
        Ok(ProgramSpace { config: self })
    }
}

/// Programs of a [`ProgramSpaceConfig`], sampled and mutated as AutoML-Zero does.
#[derive(Debug, Clone)]
pub struct ProgramSpace {
    config: ProgramSpaceConfig,
}

impl ProgramSpace {
    /// The settings.
    pub fn config(&self) -> &ProgramSpaceConfig {
        &self.config
    }

    /// A random instruction of `component`, or a no-op if it has no ops.
    pub fn random_instruction(&self, component: Component, rng: &mut SearchRng) -> Instruction {
        let Some(&op) = self.config.ops(component).choose(rng) else {
            return Instruction::NO_OP;
        };
        let mut instruction = Instruction {
            op,
            ..Instruction::NO_OP
        };
        for (i, &kind) in op.inputs().iter().enumerate() {
            let address = rng.random_range(0..self.config.layout.count(kind));
            instruction.set_input(i, address);
        }
        if let Some(kind) = op.output() {
            instruction.out = self.random_output(kind, rng);
        }
        self.randomize_data(&mut instruction, rng);
        instruction
    }

    fn random_output(&self, kind: super::op::Kind, rng: &mut SearchRng) -> u8 {
        rng.random_range(MemoryLayout::first_writable(kind)..self.config.layout.count(kind))
    }

    fn random_index(&self, rng: &mut SearchRng) -> u8 {
        // `features` is at most 256, checked by `build`.
        rng.random_range(0..self.config.features) as u8
    }

    fn randomize_data(&self, instruction: &mut Instruction, rng: &mut SearchRng) {
        let uniform = |rng: &mut SearchRng| rng.random_range(-1.0..1.0);
        match instruction.op.data() {
            DataKind::None => {}
            DataKind::Constant => {
                instruction.data = [uniform(rng), 0.0];
                match instruction.op {
                    Op::VectorConstSet => instruction.index = [self.random_index(rng), 0],
                    Op::MatrixConstSet => {
                        instruction.index = [self.random_index(rng), self.random_index(rng)];
                    }
                    _ => {}
                }
            }
            DataKind::Uniform => {
                let (a, b) = (uniform(rng), uniform(rng));
                instruction.data = [a.min(b), a.max(b)];
            }
            DataKind::Gaussian => instruction.data = [uniform(rng), rng.random_range(0.0..1.0)],
        }
    }

    fn random_component(
        &self,
        size: usize,
        component: Component,
        rng: &mut SearchRng,
    ) -> Vec<Instruction> {
        (0..size)
            .map(|_| self.random_instruction(component, rng))
            .collect()
    }

    /// Alters one argument of `instruction`; returns false if it has none.
    fn alter_param(&self, instruction: &mut Instruction, rng: &mut SearchRng) -> bool {
        let op = instruction.op;
        let n_inputs = op.inputs().len();
        let has_output = op.output().is_some();
        let has_data = op.data() != DataKind::None;
        let n_params = n_inputs + usize::from(has_output) + usize::from(has_data);
        if n_params == 0 {
            return false;
        }
        let choice = rng.random_range(0..n_params);
        if choice < n_inputs {
            let address = rng.random_range(0..self.config.layout.count(op.inputs()[choice]));
            instruction.set_input(choice, address);
        } else if choice == n_inputs && has_output {
            let kind = op.output().expect("checked above");
            instruction.out = self.random_output(kind, rng);
        } else {
            match op.data() {
                DataKind::Constant => {
                    let has_index = matches!(op, Op::VectorConstSet | Op::MatrixConstSet);
                    if has_index && rng.random_bool(0.5) {
                        let which = if op == Op::MatrixConstSet {
                            rng.random_range(0..2)
                        } else {
                            0
                        };
                        instruction.index[which] = self.random_index(rng);
                    } else {
                        // Log scale: multiply by a log-normal factor, sign kept.
                        instruction.data[0] *= standard_normal(rng).exp();
                    }
                }
                DataKind::Uniform | DataKind::Gaussian => self.randomize_data(instruction, rng),
                DataKind::None => unreachable!("has_data"),
            }
        }
        true
    }

    /// Applies `mutation` to `program` in place.
    pub fn apply(&self, mutation: Mutation, program: &mut Program, rng: &mut SearchRng) {
        let pick = |rng: &mut SearchRng, ok: &dyn Fn(Component, usize) -> bool| {
            let candidates: Vec<Component> = Component::ALL
                .into_iter()
                .filter(|&c| ok(c, program.component(c).len()))
                .collect();
            candidates.choose(rng).copied()
        };
        match mutation {
            Mutation::Identity => {}
            Mutation::AlterParam | Mutation::RandomizeInstruction => {
                let Some(component) = pick(rng, &|_, len| len > 0) else {
                    return;
                };
                let code = program.component_mut(component);
                let i = rng.random_range(0..code.len());
                if mutation == Mutation::RandomizeInstruction
                    || !self.alter_param(&mut code[i], rng)
                {
                    code[i] = self.random_instruction(component, rng);
                }
            }
            Mutation::RandomizeComponent => {
                let Some(component) = pick(rng, &|_, len| len > 0) else {
                    return;
                };
                let size = program.component(component).len();
                *program.component_mut(component) = self.random_component(size, component, rng);
            }
            Mutation::InsertInstruction => {
                let Some(component) = pick(rng, &|c, len| {
                    len < self.config.size(c).max && !self.config.ops(c).is_empty()
                }) else {
                    return;
                };
                let instruction = self.random_instruction(component, rng);
                let code = program.component_mut(component);
                let at = rng.random_range(0..=code.len());
                code.insert(at, instruction);
            }
            Mutation::RemoveInstruction => {
                let Some(component) = pick(rng, &|c, len| len > self.config.size(c).min) else {
                    return;
                };
                let code = program.component_mut(component);
                let at = rng.random_range(0..code.len());
                code.remove(at);
            }
        }
    }
}

impl ProgramSpace {
    /// The space of this config's random first programs
    /// ([`InitialProgram::Random`] at the initial sizes) written as a symbolic
    /// space (`ufh_search::symbolic`): a record of `setup`, `predict` and `learn`,
    /// each a list of instructions; an instruction is a `oneof` over its
    /// component's ops, each op a record of its `op`, its `inputs` and `out`
    /// addresses (`intv`s over the layout) and its `data` (a constant in
    /// `floatv(-1, 1)` with its element indices, a uniform distribution's two
    /// ends, or a Gaussian's mean in `floatv(-1, 1)` and deviation in
    /// `floatv(0, 1)`). It samples the distribution [`SearchSpace::sample`]
    /// samples with random first programs (a test compares them).
    pub fn symbolic(&self) -> SymbolicSpace<Op> {
        let component = |component: Component| {
            let ops = self.config.ops(component);
            let instruction = if ops.is_empty() {
                Space::Fixed(Op::NoOp)
            } else {
                Space::oneof(ops.iter().map(|&op| self.instruction_space(op)))
            };
            let size = self.config.size(component).init;
            Space::list((0..size).map(|_| instruction.clone()))
        };
        let space = Space::dict([
            ("setup", component(Component::Setup)),
            ("predict", component(Component::Predict)),
            ("learn", component(Component::Learn)),
        ]);
        SymbolicSpace::new(space).expect("a well-formed definition")
    }

    fn instruction_space(&self, op: Op) -> Space<Op> {
        let layout = &self.config.layout;
        let inputs = op
            .inputs()
            .iter()
            .map(|&kind| Space::intv(0, i64::from(layout.count(kind)) - 1));
        let out = match op.output() {
            Some(kind) => Space::intv(
                i64::from(MemoryLayout::first_writable(kind)),
                i64::from(layout.count(kind)) - 1,
            ),
            None => Space::list([]),
        };
        let index = || Space::intv(0, self.config.features as i64 - 1);
        let data = match op.data() {
            DataKind::None => Space::list([]),
            DataKind::Constant => {
                let indices = match op {
                    Op::VectorConstSet => vec![index()],
                    Op::MatrixConstSet => vec![index(), index()],
                    _ => vec![],
                };
                Space::dict([
                    ("value", Space::floatv(-1.0, 1.0)),
                    ("indices", Space::list(indices)),
                ])
            }
            DataKind::Uniform => Space::list([Space::floatv(-1.0, 1.0), Space::floatv(-1.0, 1.0)]),
            DataKind::Gaussian => Space::list([Space::floatv(-1.0, 1.0), Space::floatv(0.0, 1.0)]),
        };
        Space::dict([
            ("op", Space::Fixed(op)),
            ("inputs", Space::list(inputs)),
            ("out", out),
            ("data", data),
        ])
    }

    /// The program of a value of [`ProgramSpace::symbolic`]; `None` if the value
    /// is not of that shape.
    pub fn program_of(&self, value: &Value<Op>) -> Option<Program> {
        let instruction = |v: &Value<Op>| -> Option<Instruction> {
            if v.as_fixed() == Some(&Op::NoOp) {
                return Some(Instruction::NO_OP);
            }
            let op = *v.field("op")?.as_fixed()?;
            let mut instruction = Instruction {
                op,
                ..Instruction::NO_OP
            };
            for (i, address) in v.field("inputs")?.as_list()?.iter().enumerate() {
                instruction.set_input(i, u8::try_from(address.as_int()?).ok()?);
            }
            if let Some(out) = v.field("out")?.as_int() {
                instruction.out = u8::try_from(out).ok()?;
            }
            let data = v.field("data")?;
            match op.data() {
                DataKind::None => {}
                DataKind::Constant => {
                    instruction.data = [data.field("value")?.as_float()?, 0.0];
                    for (slot, i) in data.field("indices")?.as_list()?.iter().enumerate() {
                        instruction.index[slot] = u8::try_from(i.as_int()?).ok()?;
                    }
                }
                DataKind::Uniform => {
                    let ends = data.as_list()?;
                    let (a, b) = (ends[0].as_float()?, ends[1].as_float()?);
                    instruction.data = [a.min(b), a.max(b)];
                }
                DataKind::Gaussian => {
                    let params = data.as_list()?;
                    instruction.data = [params[0].as_float()?, params[1].as_float()?];
                }
            }
            Some(instruction)
        };
        let component = |name: &str| -> Option<Vec<Instruction>> {
            value
                .field(name)?
                .as_list()?
                .iter()
                .map(instruction)
                .collect()
        };
        Some(Program {
            setup: component("setup")?,
            predict: component("predict")?,
            learn: component("learn")?,
        })
    }
}

impl SearchSpace for ProgramSpace {
    type Candidate = Program;

    fn sample(&self, rng: &mut SearchRng) -> Program {
        let make = |component: Component, rng: &mut SearchRng| {
            let size = self.config.size(component).init;
            match self.config.initial {
                InitialProgram::Random => self.random_component(size, component, rng),
                InitialProgram::NoOp => vec![Instruction::NO_OP; size],
            }
        };
        Program {
            setup: make(Component::Setup, rng),
            predict: make(Component::Predict, rng),
            learn: make(Component::Learn, rng),
        }
    }

    /// With probability `mutate_prob`, one mutation of a uniformly drawn allowed
    /// type; otherwise an exact copy.
    fn mutate(&self, parent: &Program, rng: &mut SearchRng) -> Program {
        let mut child = parent.clone();
        if rng.random::<f64>() < self.config.mutate_prob {
            let mutation = *self
                .config
                .mutations
                .choose(rng)
                .expect("build checks there is a mutation type");
            self.apply(mutation, &mut child, rng);
        }
        child
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::automl_zero::LINEAR_REGRESSION_DEMO;

    #[test]
    fn the_symbolic_space_samples_what_the_hand_written_one_samples() {
        use std::collections::BTreeMap;
        let mut config = LINEAR_REGRESSION_DEMO.space();
        config.initial = InitialProgram::Random;
        let space = config.clone().build().unwrap();
        let symbolic = space.symbolic();
        // Per component and op: the op's frequency, its first input and output
        // addresses, and its first datum in ten bins of [-1, 1).
        let features = |program: &Program, counts: &mut BTreeMap<String, usize>| {
            for (name, code) in [
                ("setup", &program.setup),
                ("predict", &program.predict),
                ("learn", &program.learn),
            ] {
                for i in code {
                    let op = format!("{name} {:?}", i.op);
                    for key in [
                        op.clone(),
                        format!("{op} in1 {}", i.in1),
                        format!("{op} out {}", i.out),
                        format!("{op} data {}", ((i.data[0] + 1.0) * 5.0).floor()),
                    ] {
                        *counts.entry(key).or_insert(0) += 1;
                    }
                }
            }
        };
        let (mut by_hand, mut by_symbol) = (BTreeMap::new(), BTreeMap::new());
        let (mut r1, mut r2) = (SearchRng::seed_from_u64(1), SearchRng::seed_from_u64(2));
        for _ in 0..4_000 {
            features(&space.sample(&mut r1), &mut by_hand);
            let value = symbolic.materialize(&symbolic.sample(&mut r2)).unwrap();
            let program = space.program_of(&value).unwrap();
            program
                .check(config.layout, config.features)
                .unwrap_or_else(|e| panic!("{e}\n{program}"));
            features(&program, &mut by_symbol);
        }
        let keys: std::collections::BTreeSet<&String> =
            by_hand.keys().chain(by_symbol.keys()).collect();
        assert!(keys.len() > 100, "{}", keys.len());
        // Each count against its pair: a two-sample z-score under the hypothesis
        // of one distribution, so a shifted argument shows where it is.
        for key in keys {
            let (a, b) = (
                *by_hand.get(key).unwrap_or(&0) as f64,
                *by_symbol.get(key).unwrap_or(&0) as f64,
            );
            let z = (a - b) / (a + b).sqrt();
            assert!(z.abs() < 5.0, "{key}: {a} by hand, {b} symbolic");
        }
    }

    #[test]
    fn samples_and_mutants_fit_the_space() {
        let space = LINEAR_REGRESSION_DEMO.space().build().unwrap();
        let config = space.config().clone();
        let mut rng = SearchRng::seed_from_u64(3);
        let mut program = space.sample(&mut rng);
        let mut changed = 0;
        for _ in 0..5000 {
            program
                .check(config.layout, config.features)
                .unwrap_or_else(|e| panic!("{e}\n{program}"));
            assert_eq!(program.setup.len(), 10);
            assert_eq!(program.predict.len(), 2);
            assert_eq!(program.learn.len(), 8);
            for component in Component::ALL {
                for instruction in program.component(component) {
                    assert!(config.ops(component).contains(&instruction.op));
                }
            }
            let child = space.mutate(&program, &mut rng);
            changed += usize::from(child != program);
            program = child;
        }
        // mutate_prob 0.9, and some mutations redraw what was there.
        assert!((3800..4600).contains(&changed), "{changed} of 5000 changed");
    }

    #[test]
    fn insertions_and_removals_respect_the_bounds() {
        let mut config = LINEAR_REGRESSION_DEMO.space();
        config.mutations = vec![Mutation::InsertInstruction, Mutation::RemoveInstruction];
        config.mutate_prob = 1.0;
        config.predict_size = SizeBounds {
            init: 2,
            min: 1,
            max: 3,
        };
        let space = config.build().unwrap();
        let mut rng = SearchRng::seed_from_u64(4);
        let mut program = space.sample(&mut rng);
        let mut sizes = std::collections::BTreeSet::new();
        for _ in 0..500 {
            program = space.mutate(&program, &mut rng);
            sizes.insert(program.predict.len());
            assert_eq!(program.setup.len(), 10);
        }
        assert_eq!(sizes.into_iter().collect::<Vec<_>>(), vec![1, 2, 3]);
    }

    #[test]
    fn bad_settings_are_named() {
        let mut config = LINEAR_REGRESSION_DEMO.space();
        config.mutate_prob = 1.5;
        assert_eq!(
            config.clone().build().unwrap_err().to_string(),
            "invalid AutoML-Zero space: mutate_prob 1.5 not in [0, 1]"
        );
        config.mutate_prob = 0.9;
        config.learn_ops.push(Op::MatrixNorm);
        config.layout.matrices = 0;
        assert!(
            config
                .build()
                .unwrap_err()
                .to_string()
                .contains("MatrixNorm")
        );
    }
}
