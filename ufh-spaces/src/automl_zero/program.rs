//! Instructions, programs of three component functions, and the memory layout they
//! address.

use std::fmt;

use super::op::{Kind, OPERANDS, Op};

/// Scalar address of the label: written by the interpreter before Learn, zeroed
/// before Predict; never an instruction's output.
pub const LABEL: u8 = 0;
/// Scalar address of the prediction: Predict leaves its output here.
pub const PREDICTION: u8 = 1;
/// Vector address of the features, written by the interpreter before every run of
/// Predict and Learn; never an instruction's output.
pub const FEATURES: u8 = 0;

/// One instruction: an op, its input and output addresses, and its data.
///
/// Fields an op does not use are zero, so that two instructions that do the same
/// thing compare equal.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Instruction {
    /// The operation.
    pub op: Op,
    /// First input address (of the kind `op.inputs()[0]`).
    pub in1: u8,
    /// Second input address (of the kind `op.inputs()[1]`).
    pub in2: u8,
    /// Output address (of the kind `op.output()`).
    pub out: u8,
    /// Element indices `[i, j]` of a vector or matrix constant-set, each below F.
    pub index: [u8; 2],
    /// The op's data (see [`DataKind`](super::DataKind)).
    pub data: [f64; 2],
}

impl Instruction {
    /// The instruction that does nothing.
    pub const NO_OP: Instruction = Instruction {
        op: Op::NoOp,
        in1: 0,
        in2: 0,
        out: 0,
        index: [0, 0],
        data: [0.0, 0.0],
    };

    /// An instruction of `op` reading `inputs` (as many as the op has) and writing
    /// `out`, with no data.
    pub fn new(op: Op, inputs: &[u8], out: u8) -> Self {
        let mut instruction = Instruction {
            op,
            out,
            ..Self::NO_OP
        };
        for (position, &address) in inputs.iter().take(2).enumerate() {
            instruction.set_input(position, address);
        }
        instruction
    }

    /// Sets input `position` (0 or 1) to `address`.
    pub fn set_input(&mut self, position: usize, address: u8) {
        if position == 0 {
            self.in1 = address;
        } else {
            self.in2 = address;
        }
    }

    /// `s_out = value`.
    pub fn scalar_constant(out: u8, value: f64) -> Self {
        Instruction {
            op: Op::ScalarConstSet,
            out,
            data: [value, 0.0],
            ..Self::NO_OP
        }
    }

    /// Whether [`Instruction::check`] passes, decided by table look-ups without
    /// branching on the op. `limits` holds the address counts of the three kinds
    /// and 256 for a missing operand, `reserved` the address each kind may not
    /// write (256 for none).
    #[inline]
    fn fits(&self, limits: &[u16; 4], reserved: &[u16; 4], features: usize) -> bool {
        let [a, b, o] = OPERANDS[usize::from(self.op.id())].map(usize::from);
        u16::from(self.in1) < limits[a]
            && u16::from(self.in2) < limits[b]
            && u16::from(self.out) < limits[o]
            && u16::from(self.out) != reserved[o]
            && usize::from(self.index[0]) < features
            && usize::from(self.index[1]) < features
            && self.data[0].is_finite()
            && self.data[1].is_finite()
    }

    /// Why this instruction cannot run in `layout` with `features` elements per
    /// vector, if it cannot.
    pub fn check(&self, layout: MemoryLayout, features: usize) -> Result<(), String> {
        for (position, (&kind, address)) in self
            .op
            .inputs()
            .iter()
            .zip([self.in1, self.in2])
            .enumerate()
        {
            if address >= layout.count(kind) {
                return Err(format!(
                    "input {} of {} reads {}{address}, beyond the {} {kind:?} addresses",
                    position + 1,
                    self.op,
                    kind.letter(),
                    layout.count(kind)
                ));
            }
        }
        if let Some(kind) = self.op.output() {
            if self.out >= layout.count(kind) {
                return Err(format!(
                    "{} writes {}{}, beyond the {} {kind:?} addresses",
                    self.op,
                    kind.letter(),
                    self.out,
                    layout.count(kind)
                ));
            }
            if !MemoryLayout::writable(kind, self.out) {
                return Err(format!(
                    "{} writes the reserved address {}{}",
                    self.op,
                    kind.letter(),
                    self.out
                ));
            }
        }
        if self.index.iter().any(|&i| usize::from(i) >= features) {
            return Err(format!(
                "{} sets element {:?} of a {features}-element vector or matrix",
                self.op, self.index
            ));
        }
        if self.data.iter().any(|d| !d.is_finite()) {
            return Err(format!(
                "{} carries non-finite data {:?}",
                self.op, self.data
            ));
        }
        Ok(())
    }
}

impl fmt::Display for Instruction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(out_kind) = self.op.output() else {
            return f.write_str("no_op");
        };
        let inputs = self.op.inputs();
        let a = inputs
            .first()
            .map(|k| format!("{}{}", k.letter(), self.in1))
            .unwrap_or_default();
        let b = inputs
            .get(1)
            .map(|k| format!("{}{}", k.letter(), self.in2))
            .unwrap_or_default();
        let out = format!("{}{}", out_kind.letter(), self.out);
        let [i, j] = self.index;
        let [x, y] = self.data;
        use Op::*;
        match self.op {
            ScalarSum | VectorSum | MatrixSum => write!(f, "{out} = {a} + {b}"),
            ScalarDiff | VectorDiff | MatrixDiff => write!(f, "{out} = {a} - {b}"),
            ScalarProduct | ScalarVectorProduct | ScalarMatrixProduct => {
                write!(f, "{out} = {a} * {b}")
            }
            VectorProduct | MatrixProduct => write!(f, "{out} = {a} .* {b}"),
            ScalarDivision => write!(f, "{out} = {a} / {b}"),
            VectorDivision | MatrixDivision => write!(f, "{out} = {a} ./ {b}"),
            ScalarReciprocal | VectorReciprocal | MatrixReciprocal => write!(f, "{out} = 1 / {a}"),
            VectorInnerProduct => write!(f, "{out} = dot({a}, {b})"),
            VectorOuterProduct => write!(f, "{out} = outer({a}, {b})"),
            MatrixVectorProduct | MatrixMatrixProduct => write!(f, "{out} = {a} @ {b}"),
            ScalarBroadcast => write!(f, "{out} = broadcast({a})"),
            VectorColumnBroadcast => write!(f, "{out} = column_broadcast({a})"),
            VectorRowBroadcast => write!(f, "{out} = row_broadcast({a})"),
            MatrixTranspose => write!(f, "{out} = transpose({a})"),
            ScalarConstSet => write!(f, "{out} = {x}"),
            VectorConstSet => write!(f, "{out}[{i}] = {x}"),
            MatrixConstSet => write!(f, "{out}[{i}, {j}] = {x}"),
            ScalarUniformSet | VectorUniformSet | MatrixUniformSet => {
                write!(f, "{out} = uniform({x}, {y})")
            }
            ScalarGaussianSet | VectorGaussianSet | MatrixGaussianSet => {
                write!(f, "{out} = gaussian({x}, {y})")
            }
            op => {
                let name = match op {
                    ScalarAbs | VectorAbs | MatrixAbs => "abs",
                    ScalarSin => "sin",
                    ScalarCos => "cos",
                    ScalarTan => "tan",
                    ScalarArcSin => "arcsin",
                    ScalarArcCos => "arccos",
                    ScalarArcTan => "arctan",
                    ScalarExp => "exp",
                    ScalarLog => "log",
                    ScalarHeaviside | VectorHeaviside | MatrixHeaviside => "heaviside",
                    VectorNorm | MatrixNorm => "norm",
                    MatrixColumnNorm => "column_norm",
                    MatrixRowNorm => "row_norm",
                    ScalarMin | VectorMin | MatrixMin => "min",
                    ScalarMax | VectorMax | MatrixMax => "max",
                    VectorMean | MatrixMean => "mean",
                    MatrixRowMean => "row_mean",
                    MatrixRowStDev => "row_stdev",
                    VectorStDev | MatrixStDev => "stdev",
                    _ => op.name(),
                };
                if inputs.len() == 2 {
                    write!(f, "{out} = {name}({a}, {b})")
                } else {
                    write!(f, "{out} = {name}({a})")
                }
            }
        }
    }
}

/// How many addresses of each kind the memory has (AutoML-Zero's
/// `MAX_SCALAR_ADDRESSES` and so on). Addresses [`LABEL`], [`PREDICTION`] and
/// [`FEATURES`] are reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemoryLayout {
    /// Scalar addresses, at least 2 (label and prediction).
    pub scalars: u8,
    /// Vector addresses, at least 1 (features).
    pub vectors: u8,
    /// Matrix addresses.
    pub matrices: u8,
}

impl MemoryLayout {
    /// The number of addresses of `kind`.
    pub fn count(self, kind: Kind) -> u8 {
        match kind {
            Kind::Scalar => self.scalars,
            Kind::Vector => self.vectors,
            Kind::Matrix => self.matrices,
        }
    }

    /// Whether an instruction may write `address` of `kind`: everything but the
    /// label and the features.
    pub fn writable(kind: Kind, address: u8) -> bool {
        match kind {
            Kind::Scalar => address != LABEL,
            Kind::Vector => address != FEATURES,
            Kind::Matrix => true,
        }
    }

    /// The first address of `kind` an instruction may write.
    pub(crate) fn first_writable(kind: Kind) -> u8 {
        match kind {
            Kind::Scalar => LABEL + 1,
            Kind::Vector => FEATURES + 1,
            Kind::Matrix => 0,
        }
    }

    /// Whether `op` can appear in a program of this layout: it has an address of
    /// each input kind and a writable address of its output kind.
    pub fn supports(self, op: Op) -> bool {
        op.inputs().iter().all(|&k| self.count(k) > 0)
            && op
                .output()
                .is_none_or(|k| self.count(k) > Self::first_writable(k))
    }
}

/// One of the three component functions of a [`Program`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Component {
    /// Runs once, on zeroed memory, before training (InitializePass in the paper).
    Setup,
    /// Runs on every example and leaves the prediction in `s1` (ForwardPass).
    Predict,
    /// Runs after Predict on every training example, with the label in `s0`
    /// (BackwardPass).
    Learn,
}

impl Component {
    /// The three components in program order.
    pub const ALL: [Component; 3] = [Component::Setup, Component::Predict, Component::Learn];

    fn name(self) -> &'static str {
        match self {
            Component::Setup => "setup",
            Component::Predict => "predict",
            Component::Learn => "learn",
        }
    }
}

/// A candidate algorithm: three sequences of instructions.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Program {
    /// Setup: run once before training.
    pub setup: Vec<Instruction>,
    /// Predict: run on every example.
    pub predict: Vec<Instruction>,
    /// Learn: run after Predict on every training example.
    pub learn: Vec<Instruction>,
}

impl Program {
    /// The instructions of `component`.
    pub fn component(&self, component: Component) -> &[Instruction] {
        match component {
            Component::Setup => &self.setup,
            Component::Predict => &self.predict,
            Component::Learn => &self.learn,
        }
    }

    /// The instructions of `component`, mutably.
    pub fn component_mut(&mut self, component: Component) -> &mut Vec<Instruction> {
        match component {
            Component::Setup => &mut self.setup,
            Component::Predict => &mut self.predict,
            Component::Learn => &mut self.learn,
        }
    }

    /// Total number of instructions.
    pub fn len(&self) -> usize {
        self.setup.len() + self.predict.len() + self.learn.len()
    }

    /// Whether the program has no instruction at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Why this program cannot run in `layout` with `features` elements per
    /// vector, naming the component and instruction, if it cannot.
    pub fn check(&self, layout: MemoryLayout, features: usize) -> Result<(), String> {
        let limits = [
            u16::from(layout.scalars),
            u16::from(layout.vectors),
            u16::from(layout.matrices),
            256,
        ];
        let reserved = [u16::from(LABEL), u16::from(FEATURES), 256, 256];
        let all = self.setup.iter().chain(&self.predict).chain(&self.learn);
        if all
            .into_iter()
            .all(|ins| ins.fits(&limits, &reserved, features))
        {
            return Ok(());
        }
        for component in Component::ALL {
            for (i, instruction) in self.component(component).iter().enumerate() {
                instruction
                    .check(layout, features)
                    .map_err(|e| format!("{} instruction {i}: {e}", component.name()))?;
            }
        }
        Ok(())
    }

    /// The program without its no-ops, for printing.
    pub fn without_no_ops(&self) -> Program {
        let keep = |v: &[Instruction]| v.iter().filter(|i| i.op != Op::NoOp).copied().collect();
        Program {
            setup: keep(&self.setup),
            predict: keep(&self.predict),
            learn: keep(&self.learn),
        }
    }
}

/// Prints the program as AutoML-Zero's papers do:
///
/// ```text
/// def Setup():
///   s2 = 0.05
/// def Predict():
///   s1 = dot(v1, v0)
/// def Learn():
///   s3 = s0 - s1
///   ...
/// ```
impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (component, title) in Component::ALL
            .into_iter()
            .zip(["Setup", "Predict", "Learn"])
        {
            writeln!(f, "def {title}():")?;
            let instructions = self.component(component);
            if instructions.is_empty() {
                writeln!(f, "  pass")?;
            }
            for instruction in instructions {
                writeln!(f, "  {instruction}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYOUT: MemoryLayout = MemoryLayout {
        scalars: 4,
        vectors: 3,
        matrices: 1,
    };

    #[test]
    fn programs_print_readably() {
        let program = Program {
            setup: vec![Instruction::scalar_constant(2, 0.05)],
            predict: vec![Instruction::new(Op::VectorInnerProduct, &[1, 0], 1)],
            learn: vec![
                Instruction::new(Op::ScalarDiff, &[0, 1], 3),
                Instruction::new(Op::ScalarVectorProduct, &[3, 0], 2),
                Instruction::new(Op::MatrixRowNorm, &[0], 1),
            ],
        };
        assert_eq!(
            program.to_string(),
            "def Setup():\n  s2 = 0.05\ndef Predict():\n  s1 = dot(v1, v0)\n\
             def Learn():\n  s3 = s0 - s1\n  v2 = s3 * v0\n  v1 = row_norm(m0)\n"
        );
        assert!(program.check(LAYOUT, 4).is_ok());
    }

    #[test]
    fn checks_name_the_component_instruction_and_address() {
        let mut program = Program {
            learn: vec![
                Instruction::NO_OP,
                Instruction::new(Op::ScalarSum, &[1, 9], 2),
            ],
            ..Program::default()
        };
        assert_eq!(
            program.check(LAYOUT, 4).unwrap_err(),
            "learn instruction 1: input 2 of ScalarSum reads s9, beyond the 4 Scalar addresses"
        );
        program.learn[1] = Instruction::new(Op::VectorAbs, &[1], 0);
        assert_eq!(
            program.check(LAYOUT, 4).unwrap_err(),
            "learn instruction 1: VectorAbs writes the reserved address v0"
        );
        program.learn[1] = Instruction {
            index: [4, 0],
            ..Instruction::scalar_constant(2, 1.0)
        };
        assert!(
            program
                .check(LAYOUT, 4)
                .unwrap_err()
                .contains("element [4, 0]")
        );
    }

    #[test]
    fn layouts_support_ops_with_room_for_their_output() {
        let tight = MemoryLayout {
            scalars: 2,
            vectors: 1,
            matrices: 0,
        };
        assert!(tight.supports(Op::ScalarSum), "s1 is writable");
        assert!(!tight.supports(Op::VectorSum), "only v0, which is reserved");
        assert!(!tight.supports(Op::MatrixNorm), "no matrix to read");
        assert!(LAYOUT.supports(Op::MatrixMatrixProduct));
    }

    proptest::proptest! {
        /// The table-driven fast path agrees with the detailed check on every
        /// instruction, valid or not.
        #[test]
        fn the_fast_check_agrees_with_the_detailed_one(
            id in 0u8..65,
            addresses in proptest::array::uniform3(proptest::prop_oneof![0u8..6, proptest::num::u8::ANY]),
            index in proptest::array::uniform2(0u8..6),
            data in proptest::array::uniform2(proptest::prop_oneof![
                -2.0f64..2.0,
                proptest::strategy::Just(f64::NAN),
                proptest::strategy::Just(f64::INFINITY),
            ]),
        ) {
            let ins = Instruction {
                op: Op::from_id(id).expect("an op"),
                in1: addresses[0],
                in2: addresses[1],
                out: addresses[2],
                index,
                data,
            };
            let program = Program { setup: vec![], predict: vec![ins], learn: vec![] };
            proptest::prop_assert_eq!(
                program.check(LAYOUT, 4).is_ok(),
                ins.check(LAYOUT, 4).is_ok(),
                "{:?}", ins
            );
        }
    }
}
