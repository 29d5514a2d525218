//! The NAS-Bench-101 search space: random cells and the benchmark's mutation.

use rand::Rng;
use rustc_hash::FxHashSet;
use ufh_search::symbolic::{Space, SymbolicSpace, Value};
use ufh_search::{DiscreteEncoding, Neighbourhood, SearchRng, SearchSpace};

use super::cell::{Cell, MAX_EDGES, MAX_VERTICES, Op};
use super::module_hash::ModuleHash;

/// The unchecked settings of a [`NasBench101Space`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SpaceConfig {
    /// Vertices of a raw cell, input and output included: the size of the
    /// matrices that sampling and mutation draw. 7 in NAS-Bench-101.
    pub raw_vertices: usize,
    /// Most vertices a cell may have after pruning: the benchmark's bound. A raw
    /// cell that prunes to more is rejected and redrawn, as NAS-Bench-101's
    /// `is_valid` does, so a search never proposes a cell outside its table. 7 in
    /// NAS-Bench-101; a table's own bound for restricted tables
    /// ([`crate::nasbench101::TabularBenchmark::vertex_bound`]).
    pub max_vertices: usize,
    /// Most edges a pruned cell may have: 9 in NAS-Bench-101.
    pub max_edges: usize,
    /// The mutation rate `r`: each possible edge flips with probability
    /// `r / raw_vertices`, each interior op changes with probability
    /// `r / (raw_vertices - 2)`. 1.0 in the paper.
    pub mutation_rate: f64,
}

impl SpaceConfig {
    /// NAS-Bench-101 with the paper's mutation rate 1.0.
    pub const NASBENCH101: SpaceConfig = SpaceConfig {
        raw_vertices: MAX_VERTICES,
        max_vertices: MAX_VERTICES,
        max_edges: MAX_EDGES,
        mutation_rate: 1.0,
    };

    /// NAS-Bench-101's sampling and mutation (7×7 raw matrices, mutation rate 1)
    /// on a table whose cells have at most `max_vertices` vertices.
    pub const fn nasbench101_bounded(max_vertices: usize) -> SpaceConfig {
        SpaceConfig {
            max_vertices,
            ..Self::NASBENCH101
        }
    }

    /// Checks the settings.
    pub fn build(self) -> Result<NasBench101Space, SpaceError> {
        if !(3..=MAX_VERTICES).contains(&self.raw_vertices) {
            return Err(SpaceError::RawVertices(self.raw_vertices));
        }
        if !(3..=self.raw_vertices).contains(&self.max_vertices) {
            return Err(SpaceError::MaxVertices {
                max_vertices: self.max_vertices,
                raw_vertices: self.raw_vertices,
            });
        }
        if !(1..=MAX_EDGES).contains(&self.max_edges) {
            return Err(SpaceError::MaxEdges(self.max_edges));
        }
        if !(self.mutation_rate > 0.0 && self.mutation_rate <= (self.raw_vertices - 2) as f64) {
            return Err(SpaceError::MutationRate(self.mutation_rate));
        }
        Ok(NasBench101Space { config: self })
    }
}

/// Settings a [`NasBench101Space`] cannot have.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SpaceError {
    /// `raw_vertices` outside 3..=7.
    #[error("raw_vertices must be in 3..={MAX_VERTICES}, got {0}")]
    RawVertices(usize),
    /// `max_vertices` outside 3..=raw_vertices.
    #[error("max_vertices must be in 3..={raw_vertices} (raw_vertices), got {max_vertices}")]
    MaxVertices {
        /// The bound given.
        max_vertices: usize,
        /// The raw size.
        raw_vertices: usize,
    },
    /// `max_edges` outside 1..=9.
    #[error("max_edges must be in 1..={MAX_EDGES}, got {0}")]
    MaxEdges(usize),
    /// A mutation rate that is not a probability scale.
    #[error("mutation_rate must be in (0, raw_vertices - 2], got {0}")]
    MutationRate(f64),
}

/// NAS-Bench-101's cells as a search space.
///
/// Candidates are raw cells of `raw_vertices` vertices, as the benchmark's own
/// search code keeps them: sampling and mutation act on the raw matrix, and the
/// evaluator and hashers prune. Two raw cells can therefore differ and still prune
/// to the same model, which is one source of the equivalences the functional hash
/// finds.
///
/// * Sampling: every edge above the diagonal present with probability 1/2, every
///   interior op uniform, redrawn until valid.
/// * Mutation (the NAS-Bench-101 notebook's): each of the `V(V-1)/2` possible
///   edges flips with probability `r/V`; each interior op is replaced by a different
///   one with probability `r/(V-2)`; redrawn until valid. The child can equal its
///   parent.
///
/// ```
/// use rand::SeedableRng;
/// use ufh_search::{SearchRng, SearchSpace};
/// use ufh_spaces::nasbench101::SpaceConfig;
///
/// let space = SpaceConfig::NASBENCH101.build()?;
/// let mut rng = SearchRng::seed_from_u64(7);
/// let parent = space.sample(&mut rng);
/// let child = space.mutate(&parent, &mut rng);
/// assert!(parent.is_valid() && child.is_valid());
/// # Ok::<(), ufh_spaces::nasbench101::SpaceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct NasBench101Space {
    config: SpaceConfig,
}

impl NasBench101Space {
    /// The settings.
    pub fn config(&self) -> &SpaceConfig {
        &self.config
    }

    /// Whether `cell` is a valid model of this space: it prunes, and its pruned form
    /// fits the space's vertex and edge limits.
    pub fn is_valid(&self, cell: &Cell) -> bool {
        self.prune(cell).is_some()
    }

    /// The pruned cell, if `cell` is valid in this space.
    pub fn prune(&self, cell: &Cell) -> Option<Cell> {
        let pruned = cell.prune().ok()?;
        (pruned.num_vertices() <= self.config.max_vertices
            && pruned.num_edges() <= self.config.max_edges)
            .then_some(pruned)
    }

    fn random_cell(&self, rng: &mut SearchRng) -> Cell {
        let n = self.config.raw_vertices;
        let mut rows = [0u8; MAX_VERTICES];
        for (i, row) in rows.iter_mut().enumerate().take(n) {
            for j in i + 1..n {
                if rng.random::<bool>() {
                    *row |= 1 << j;
                }
            }
        }
        let mut interior = [Op::Conv3x3; MAX_VERTICES - 2];
        for op in &mut interior[..n - 2] {
            *op = Op::INTERIOR[rng.random_range(0..3u32) as usize];
        }
        Cell::from_bits(n, rows, &interior[..n - 2])
    }
}

impl NasBench101Space {
    /// This space written as a symbolic space (`ufh_search::symbolic`): a record
    /// of `edges`, one `intv(0, 1)` per possible edge above the diagonal
    /// (row-major), and `ops`, one `oneof` of [`Op::INTERIOR`] per interior
    /// vertex, constrained to valid cells. It samples the distribution
    /// [`SearchSpace::sample`] samples (a test compares them); its mutation changes
    /// one decision, where this space's own flips each edge and op at rate
    /// `r / V`.
    pub fn symbolic(&self) -> SymbolicSpace<Op> {
        let n = self.config.raw_vertices;
        let space = Space::dict([
            (
                "edges",
                Space::list((0..n * (n - 1) / 2).map(|_| Space::intv(0, 1))),
            ),
            (
                "ops",
                Space::list((0..n - 2).map(|_| Space::oneof_values(Op::INTERIOR))),
            ),
        ]);
        let this = self.clone();
        SymbolicSpace::new(space)
            .expect("a well-formed definition")
            .constrained(move |value| this.cell_of(value).is_some_and(|c| this.is_valid(&c)))
    }

    /// The raw cell of a value of [`NasBench101Space::symbolic`]; `None` if the
    /// value is not of that shape.
    pub fn cell_of(&self, value: &Value<Op>) -> Option<Cell> {
        let n = self.config.raw_vertices;
        let edges = value.field("edges")?.as_list()?;
        let ops = value.field("ops")?.as_list()?;
        if edges.len() != n * (n - 1) / 2 || ops.len() != n - 2 {
            return None;
        }
        let mut rows = [0u8; MAX_VERTICES];
        let mut k = 0;
        for (i, row) in rows.iter_mut().enumerate().take(n) {
            for j in i + 1..n {
                if edges[k].as_int()? == 1 {
                    *row |= 1 << j;
                }
                k += 1;
            }
        }
        let mut interior = [Op::Conv3x3; MAX_VERTICES - 2];
        for (slot, op) in interior.iter_mut().zip(ops) {
            *slot = *op.as_fixed()?;
        }
        Some(Cell::from_bits(n, rows, &interior[..n - 2]))
    }
}

impl SearchSpace for NasBench101Space {
    type Candidate = Cell;

    fn sample(&self, rng: &mut SearchRng) -> Cell {
        loop {
            let cell = self.random_cell(rng);
            if self.is_valid(&cell) {
                return cell;
            }
        }
    }

    fn mutate(&self, parent: &Cell, rng: &mut SearchRng) -> Cell {
        let n = parent.num_vertices();
        let edge_probability = self.config.mutation_rate / n as f64;
        let op_probability = self.config.mutation_rate / (n - 2) as f64;
        loop {
            let mut rows = [0u8; MAX_VERTICES];
            rows[..n].copy_from_slice(parent.row_bits());
            for (i, row) in rows.iter_mut().enumerate().take(n) {
                for j in i + 1..n {
                    if rng.random::<f64>() < edge_probability {
                        *row ^= 1 << j;
                    }
                }
            }
            let mut interior = [Op::Conv3x3; MAX_VERTICES - 2];
            for (k, op) in interior[..n - 2].iter_mut().enumerate() {
                *op = parent.op(k + 1);
                if rng.random::<f64>() < op_probability {
                    // One of the two other ops, uniformly.
                    let current = Op::INTERIOR.iter().position(|o| o == op).unwrap_or(0);
                    let shift = 1 + rng.random_range(0..2u32) as usize;
                    *op = Op::INTERIOR[(current + shift) % 3];
                }
            }
            let child = Cell::from_bits(n, rows, &interior[..n - 2]);
            if self.is_valid(&child) {
                return child;
            }
        }
    }
}

impl Neighbourhood for NasBench101Space {
    /// The valid cells one edit away in the raw matrix: every single edge flip
    /// above the diagonal, then every single change of an interior op to one of
    /// the two others (the neighbourhood of White et al.'s local search).
    fn neighbours(&self, cell: &Cell) -> Vec<Cell> {
        let n = cell.num_vertices();
        let mut interior = [Op::Conv3x3; MAX_VERTICES - 2];
        for (k, op) in interior[..n - 2].iter_mut().enumerate() {
            *op = cell.op(k + 1);
        }
        let mut rows = [0u8; MAX_VERTICES];
        rows[..n].copy_from_slice(cell.row_bits());
        let mut neighbours = Vec::new();
        let mut keep = |candidate: Cell| {
            if self.is_valid(&candidate) {
                neighbours.push(candidate);
            }
        };
        for i in 0..n {
            for j in i + 1..n {
                let mut flipped = rows;
                flipped[i] ^= 1 << j;
                keep(Cell::from_bits(n, flipped, &interior[..n - 2]));
            }
        }
        for k in 0..n - 2 {
            for &op in Op::INTERIOR.iter().filter(|&&op| op != interior[k]) {
                let mut changed = interior;
                changed[k] = op;
                keep(Cell::from_bits(n, rows, &changed[..n - 2]));
            }
        }
        neighbours
    }
}

impl NasBench101Space {
    /// Length of the path encoding: one feature per possible input-to-output path,
    /// labelled by its sequence of interior ops, `Σ 3^k` for k = 0 to the most
    /// interior vertices (364 for NAS-Bench-101's 7 vertices).
    pub fn path_encoding_len(&self) -> usize {
        (0..=self.config.raw_vertices - 2)
            .map(|k| 3usize.pow(k as u32))
            .sum()
    }

    /// BANANAS's path encoding of `cell`: 1 for every input-to-output path of its
    /// pruned form, at the index of the path's op sequence (paths of k interior
    /// ops come after all shorter ones, and within them the first op varies
    /// fastest, ops in [`Op::INTERIOR`] order); all zeros if it does not prune.
    pub fn path_encoding(&self, cell: &Cell, out: &mut [f64]) {
        out.fill(0.0);
        let Some(pruned) = self.prune(cell) else {
            return;
        };
        let n = pruned.num_vertices();
        let offsets: Vec<usize> = (0..n)
            .scan(0usize, |offset, k| {
                let at = *offset;
                *offset += 3usize.pow(k as u32);
                Some(at)
            })
            .collect();
        // Depth-first over paths from the input: (vertex, interior ops so far, code).
        let mut stack = vec![(0usize, 0usize, 0usize)];
        while let Some((vertex, length, code)) = stack.pop() {
            for next in vertex + 1..n {
                if !pruned.has_edge(vertex, next) {
                    continue;
                }
                if next == n - 1 {
                    if let Some(slot) = out.get_mut(offsets[length] + code) {
                        *slot = 1.0;
                    }
                    continue;
                }
                let op = Op::INTERIOR
                    .iter()
                    .position(|&o| o == pruned.op(next))
                    .unwrap_or(0);
                stack.push((next, length + 1, code + op * 3usize.pow(length as u32)));
            }
        }
    }
}

impl ufh_search::FeatureEncoding for NasBench101Space {
    fn feature_len(&self) -> usize {
        self.path_encoding_len()
    }

    fn encode(&self, cell: &Cell, out: &mut [f64]) {
        self.path_encoding(cell, out);
    }
}

impl DiscreteEncoding for NasBench101Space {
    /// One binary decision per possible edge (row-major above the diagonal), then
    /// one 3-way decision per interior op (in [`Op::INTERIOR`] order).
    fn cardinalities(&self) -> Vec<usize> {
        let n = self.config.raw_vertices;
        let mut cardinalities = vec![2; n * (n - 1) / 2];
        cardinalities.extend(std::iter::repeat_n(3, n - 2));
        cardinalities
    }

    /// The raw cell the choices describe; it may be invalid, which the evaluator
    /// reports as a failed evaluation.
    fn decode(&self, choices: &[usize]) -> Cell {
        let n = self.config.raw_vertices;
        let mut rows = [0u8; MAX_VERTICES];
        let mut k = 0;
        for (i, row) in rows.iter_mut().enumerate().take(n) {
            for j in i + 1..n {
                if choices.get(k).copied().unwrap_or(0) == 1 {
                    *row |= 1 << j;
                }
                k += 1;
            }
        }
        let mut interior = [Op::Conv3x3; MAX_VERTICES - 2];
        for op in &mut interior[..n - 2] {
            *op = Op::INTERIOR[choices.get(k).copied().unwrap_or(0) % 3];
            k += 1;
        }
        Cell::from_bits(n, rows, &interior[..n - 2])
    }
}

/// Every unique model with at most `max_vertices` vertices and `max_edges` edges:
/// one pruned representative per structural hash, in a fixed order (by vertex
/// count, then adjacency bits, then ops), as NAS-Bench-101's generator enumerates
/// them.
///
/// The counts for `max_edges = 9` are NAS-Bench-101's: 1, 7, 91, 2,532, 64,542 and
/// 423,624 models for at most 2 to 7 vertices.
pub fn enumerate_unique_cells(max_vertices: usize, max_edges: usize) -> Vec<(ModuleHash, Cell)> {
    let mut seen = FxHashSet::default();
    let mut cells = Vec::new();
    for n in 2..=max_vertices.min(MAX_VERTICES) {
        let pairs: Vec<(usize, usize)> = (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .collect();
        for bits in 0u32..1 << pairs.len() {
            if bits.count_ones() as usize > max_edges {
                continue;
            }
            let mut rows = [0u8; MAX_VERTICES];
            for (k, &(i, j)) in pairs.iter().enumerate() {
                if bits & (1 << k) != 0 {
                    rows[i] |= 1 << j;
                }
            }
            // Only full DAGs: every vertex but the output has an out-edge and every
            // vertex but the input an in-edge (anything else prunes to a smaller
            // cell, already enumerated).
            let has_out = (0..n - 1).all(|i| rows[i] != 0);
            let has_in = (1..n).all(|j| rows[..n].iter().any(|r| r & (1 << j) != 0));
            if !(has_out && has_in) {
                continue;
            }
            let mut labels = vec![0usize; n - 2];
            loop {
                let interior: Vec<Op> = labels.iter().map(|&l| Op::INTERIOR[l]).collect();
                let cell = Cell::from_bits(n, rows, &interior);
                if let Ok(pruned) = cell.prune() {
                    let key = pruned.module_hash();
                    if seen.insert(key) {
                        cells.push((key, pruned));
                    }
                }
                // Next labelling, like an odometer.
                let Some(position) = labels.iter().position(|&l| l < 2) else {
                    break;
                };
                labels[position] += 1;
                labels[..position].iter_mut().for_each(|l| *l = 0);
            }
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    /// Pearson's two-sample statistic for equal sample sizes, over the union of
    /// cells, with its degrees of freedom.
    fn two_sample_chi2<K: Ord>(
        a: &std::collections::BTreeMap<K, usize>,
        b: &std::collections::BTreeMap<K, usize>,
    ) -> (f64, f64) {
        let keys: std::collections::BTreeSet<&K> = a.keys().chain(b.keys()).collect();
        let chi2 = keys
            .iter()
            .map(|k| {
                let (x, y) = (
                    *a.get(k).unwrap_or(&0) as f64,
                    *b.get(k).unwrap_or(&0) as f64,
                );
                (x - y).powi(2) / (x + y)
            })
            .sum();
        (chi2, (keys.len() - 1) as f64)
    }

    #[test]
    fn the_symbolic_space_samples_what_the_hand_written_one_samples() {
        use std::collections::BTreeMap;
        // Raw cells of 4 vertices: the whole distribution, cell by cell.
        let space = SpaceConfig {
            raw_vertices: 4,
            max_vertices: 4,
            max_edges: 9,
            mutation_rate: 1.0,
        }
        .build()
        .unwrap();
        let symbolic = space.symbolic();
        let (mut by_hand, mut by_symbol) = (BTreeMap::new(), BTreeMap::new());
        let (mut r1, mut r2) = (SearchRng::seed_from_u64(1), SearchRng::seed_from_u64(2));
        for _ in 0..60_000 {
            let cell = space.sample(&mut r1);
            *by_hand.entry(format!("{cell:?}")).or_insert(0) += 1;
            let point = symbolic.sample(&mut r2);
            let value = symbolic.materialize(&point).unwrap();
            let cell = space.cell_of(&value).unwrap();
            assert!(space.is_valid(&cell));
            *by_symbol.entry(format!("{cell:?}")).or_insert(0) += 1;
        }
        let (chi2, df) = two_sample_chi2(&by_hand, &by_symbol);
        assert!(df > 50.0, "{df}");
        assert!(
            chi2 < df + 6.0 * (2.0 * df).sqrt(),
            "chi-square {chi2:.1} on {df}"
        );
        // The same statistic sees a different distribution: every other cell
        // drawn 1.5 times as often.
        let tilted: BTreeMap<String, usize> = by_hand
            .iter()
            .enumerate()
            .map(|(i, (k, &v))| (k.clone(), if i % 2 == 0 { v * 3 / 2 } else { v }))
            .collect();
        let tilted_total: usize = tilted.values().sum();
        let scale = 60_000.0 / tilted_total as f64;
        let tilted: BTreeMap<String, usize> = tilted
            .into_iter()
            .map(|(k, v)| (k, (v as f64 * scale).round() as usize))
            .collect();
        let (chi2, df) = two_sample_chi2(&tilted, &by_symbol);
        assert!(chi2 > df + 6.0 * (2.0 * df).sqrt(), "{chi2} on {df}");
    }

    #[test]
    fn searches_run_on_the_symbolic_cells() {
        use ufh_search::symbolic::Decoded;
        use ufh_search::{
            Budget, CandidateHasher, Evaluation, Evaluator, LocalSearchConfig, Mode, Search,
        };
        let space = SpaceConfig::NASBENCH101.build().unwrap();
        let symbolic = space.symbolic();
        // Fitness: edges of the pruned cell; the hash: its structure.
        struct Edges;
        impl Evaluator<Cell> for Edges {
            fn evaluate(&self, c: &Cell, _: &mut SearchRng) -> Evaluation {
                let f = c
                    .prune()
                    .map_or(f64::NEG_INFINITY, |p| p.num_edges() as f64);
                Evaluation {
                    validation: f,
                    test: f,
                    cost_s: 1.0,
                }
            }
        }
        struct Structure;
        impl CandidateHasher<Cell> for Structure {
            fn hash(&self, c: &Cell) -> ufh_core::FunctionalHash {
                ufh_core::FunctionalHash(c.prune().map_or(0, |p| {
                    let key = p.module_hash().to_string();
                    u64::from_str_radix(&key[..16], 16).unwrap()
                }))
            }
            fn cost_s(&self) -> f64 {
                0.0
            }
        }
        let decode = |d: &ufh_search::symbolic::Dna| {
            space
                .cell_of(&symbolic.materialize(d).expect("points fit"))
                .expect("the space's own shape")
        };
        let evaluator = Decoded {
            decode: &decode,
            inner: Edges,
        };
        let hasher = Decoded {
            decode: &decode,
            inner: Structure,
        };
        let record = Search::new(&symbolic, &evaluator, Budget::Candidates(500), 1)
            .hasher(&hasher)
            .techniques(ufh_search::Techniques::FEC)
            .unwrap()
            .run(
                &mut LocalSearchConfig::DEFAULT.build().unwrap(),
                Mode::Serial,
            )
            .unwrap()
            .record;
        // 9 edges is the most a valid cell has.
        assert_eq!(record.best_so_far().last().unwrap().validation, 9.0);
        assert!(record.hit_rate().unwrap() > 0.0);
    }

    /// A fold of the first samples and mutations of NAS-Bench-101's space, seed 1:
    /// separating the raw size from the vertex bound left a 7-vertex space's
    /// trajectory exactly as it was (the value was taken before that change).
    #[test]
    fn nasbench101_sampling_and_mutation_are_permanent() {
        let space = SpaceConfig::NASBENCH101.build().unwrap();
        let mut rng = SearchRng::seed_from_u64(1);
        // FNV-1a over the cells' 15-byte encodings: a fold fixed by this code.
        let mut fold = 0xcbf2_9ce4_8422_2325u64;
        let mut cell = space.sample(&mut rng);
        for i in 0..500 {
            cell = if i % 5 == 0 {
                space.sample(&mut rng)
            } else {
                space.mutate(&cell, &mut rng)
            };
            for byte in cell.to_bytes() {
                fold = (fold ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        assert_eq!(fold, PERMANENT_FOLD);
    }

    const PERMANENT_FOLD: u64 = 1_285_742_486_339_104_083;

    /// Every raw cell of `n` vertices, valid or not.
    fn all_raw_cells(n: usize) -> Vec<Cell> {
        let pairs: Vec<(usize, usize)> = (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .collect();
        let mut cells = Vec::new();
        for edges in 0u32..1 << pairs.len() {
            let mut rows = [0u8; MAX_VERTICES];
            for (bit, &(i, j)) in pairs.iter().enumerate() {
                if edges >> bit & 1 == 1 {
                    rows[i] |= 1 << j;
                }
            }
            for ops in 0..3usize.pow(n as u32 - 2) {
                let interior: Vec<Op> = (0..n - 2)
                    .map(|k| Op::INTERIOR[ops / 3usize.pow(k as u32) % 3])
                    .collect();
                cells.push(Cell::from_bits(n, rows, &interior));
            }
        }
        cells
    }

    /// Edits between two raw cells of one size: differing edges plus differing ops.
    fn edits(a: &Cell, b: &Cell) -> u32 {
        let edges: u32 = a
            .row_bits()
            .iter()
            .zip(b.row_bits())
            .map(|(x, y)| (x ^ y).count_ones())
            .sum();
        edges + a.ops().zip(b.ops()).filter(|(x, y)| x != y).count() as u32
    }

    #[test]
    fn neighbourhoods_are_every_valid_cell_one_edit_away() {
        for (n, checked) in [(4, usize::MAX), (5, 40)] {
            let space = SpaceConfig {
                raw_vertices: n,
                max_vertices: n,
                ..SpaceConfig::NASBENCH101
            }
            .build()
            .unwrap();
            let all = all_raw_cells(n);
            let valid: Vec<&Cell> = all.iter().filter(|c| space.is_valid(c)).collect();
            let mut total = 0;
            for cell in valid.iter().take(checked) {
                let neighbours = space.neighbours(cell);
                let expected: FxHashSet<&Cell> = valid
                    .iter()
                    .copied()
                    .filter(|other| edits(cell, other) == 1)
                    .collect();
                let got: FxHashSet<&Cell> = neighbours.iter().collect();
                assert_eq!(got.len(), neighbours.len(), "no neighbour twice");
                assert_eq!(got, expected, "{n} vertices, cell {cell:?}");
                total += neighbours.len();
            }
            assert!(total > 0);
        }
        // NAS-Bench-101's own space: at most 21 flips and 10 op changes.
        let space = SpaceConfig::NASBENCH101.build().unwrap();
        let mut rng = SearchRng::seed_from_u64(4);
        for _ in 0..50 {
            let cell = space.sample(&mut rng);
            let neighbours = space.neighbours(&cell);
            assert!(neighbours.len() <= 31 && !neighbours.is_empty());
            assert!(
                neighbours
                    .iter()
                    .all(|c| space.is_valid(c) && edits(&cell, c) == 1)
            );
        }
    }

    #[test]
    fn path_encodings_count_the_paths_of_known_cells() {
        let space = SpaceConfig::NASBENCH101.build().unwrap();
        assert_eq!(space.path_encoding_len(), 364);
        let mut code = vec![0.0; 364];
        let set = |code: &[f64]| -> Vec<usize> {
            code.iter()
                .enumerate()
                .filter(|(_, v)| **v == 1.0)
                .map(|(i, _)| i)
                .collect()
        };
        // input -> output directly: the empty path, index 0.
        let direct = Cell::from_strings("0100", "input,output").unwrap();
        space.path_encoding(&direct, &mut code);
        assert_eq!(set(&code), [0]);
        // input -> conv3x3 -> output and input -> maxpool -> output, plus the
        // direct edge: paths (), (conv3x3) at 1 + 0 and (maxpool) at 1 + 2.
        let fan = Cell::from_strings(
            "0111000100010000",
            "input,conv3x3-bn-relu,maxpool3x3,output",
        )
        .unwrap();
        space.path_encoding(&fan, &mut code);
        assert_eq!(set(&code), [0, 1, 3]);
        // A chain input -> conv1x1 -> conv3x3 -> output: the path (conv1x1,
        // conv3x3) of length 2 at 1 + 3 + (1 + 0·3) = 5.
        let chain = Cell::from_strings(
            "0100001000010000",
            "input,conv1x1-bn-relu,conv3x3-bn-relu,output",
        )
        .unwrap();
        space.path_encoding(&chain, &mut code);
        assert_eq!(set(&code), [5]);
        // A diamond: two paths of length 2 and one of length 1.
        let diamond = Cell::from_strings(
            "0110000011000100000100000",
            "input,conv3x3-bn-relu,maxpool3x3,conv1x1-bn-relu,output",
        )
        .unwrap();
        space.path_encoding(&diamond, &mut code);
        // (conv3x3) = 1; (conv3x3, conv1x1) = 4 + 0 + 1·3 = 7; (maxpool, conv1x1)
        // = 4 + 2 + 1·3 = 9.
        assert_eq!(set(&code), [1, 7, 9]);
        // The encoding counts paths of the pruned cell: a dangling vertex adds none.
        let dangling = Cell::from_strings(
            "0110000100000000",
            "input,conv3x3-bn-relu,maxpool3x3,output",
        )
        .unwrap();
        space.path_encoding(&dangling, &mut code);
        assert_eq!(set(&code), [1]);
    }

    #[test]
    fn unique_model_counts_match_nasbench101() {
        let cells = enumerate_unique_cells(6, MAX_EDGES);
        let counts: Vec<usize> = (2..=6)
            .map(|v| cells.iter().filter(|(_, c)| c.num_vertices() <= v).count())
            .collect();
        assert_eq!(counts, [1, 7, 91, 2532, 64542]);
        // Enumerating a smaller space gives the same models.
        assert_eq!(enumerate_unique_cells(4, MAX_EDGES).len(), 91);
    }

    #[test]
    fn samples_and_mutants_are_valid_and_mutation_explores() {
        let space = SpaceConfig::NASBENCH101.build().unwrap();
        let mut rng = SearchRng::seed_from_u64(1);
        let mut parent = space.sample(&mut rng);
        let mut distinct = FxHashSet::default();
        let mut equal_to_parent = 0;
        for _ in 0..2000 {
            let child = space.mutate(&parent, &mut rng);
            assert!(space.is_valid(&child));
            assert_eq!(child.num_vertices(), 7);
            equal_to_parent += usize::from(child == parent);
            distinct.insert(child.prune().unwrap().module_hash());
            parent = child;
        }
        // About (1 - 1/7)^21 (1 - 1/5)^5 ≈ 1.3% of mutations change nothing; invalid
        // changed children are redrawn, which raises that share a little.
        assert!((5..150).contains(&equal_to_parent), "{equal_to_parent}");
        assert!(distinct.len() > 500, "{}", distinct.len());
    }

    #[test]
    fn restricted_space_stays_inside_its_limits() {
        let space = SpaceConfig {
            raw_vertices: 5,
            max_vertices: 5,
            max_edges: 9,
            mutation_rate: 1.0,
        }
        .build()
        .unwrap();
        let mut rng = SearchRng::seed_from_u64(2);
        let all: FxHashSet<ModuleHash> = enumerate_unique_cells(5, 9)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let mut cell = space.sample(&mut rng);
        for _ in 0..500 {
            cell = space.mutate(&cell, &mut rng);
            assert!(all.contains(&space.prune(&cell).unwrap().module_hash()));
        }
    }

    #[test]
    fn decode_covers_the_encoding() {
        let space = SpaceConfig::NASBENCH101.build().unwrap();
        let cardinalities = space.cardinalities();
        assert_eq!(cardinalities.len(), 21 + 5);
        let mut rng = SearchRng::seed_from_u64(3);
        let cell = space.sample(&mut rng);
        // Encode the sample by hand and decode it back.
        let mut choices = Vec::new();
        for i in 0..7 {
            for j in i + 1..7 {
                choices.push(usize::from(cell.has_edge(i, j)));
            }
        }
        for k in 1..6 {
            choices.push(Op::INTERIOR.iter().position(|&o| o == cell.op(k)).unwrap());
        }
        assert_eq!(space.decode(&choices), cell);
    }

    #[test]
    fn bad_settings_are_named() {
        let mut config = SpaceConfig::NASBENCH101;
        config.max_vertices = 8;
        assert_eq!(
            config.build().unwrap_err().to_string(),
            "max_vertices must be in 3..=7 (raw_vertices), got 8"
        );
        // A bound above the raw size can never be reached.
        let config = SpaceConfig {
            raw_vertices: 5,
            max_vertices: 6,
            ..SpaceConfig::NASBENCH101
        };
        assert_eq!(
            config.build().unwrap_err().to_string(),
            "max_vertices must be in 3..=5 (raw_vertices), got 6"
        );
        let mut config = SpaceConfig::NASBENCH101;
        config.raw_vertices = 8;
        assert_eq!(
            config.build().unwrap_err().to_string(),
            "raw_vertices must be in 3..=7, got 8"
        );
        config = SpaceConfig::NASBENCH101;
        config.mutation_rate = f64::NAN;
        assert!(matches!(config.build(), Err(SpaceError::MutationRate(_))));
    }
}
