//! A NAS-Bench-101 cell: a small DAG of labelled vertices, its validity and its
//! pruning, exactly as the benchmark defines them.

use std::fmt;
use std::str::FromStr;

use petgraph::graph::{DiGraph, NodeIndex};

/// Most vertices a cell may have, input and output included.
pub const MAX_VERTICES: usize = 7;

/// Most edges a (pruned) cell may have.
pub const MAX_EDGES: usize = 9;

/// The operation of a vertex.
///
/// The interior operations are those of NAS-Bench-101; their order
/// ([`Op::INTERIOR`]) is the benchmark's canonical order, which the structural hash
/// uses as labels.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Op {
    /// The cell's input (vertex 0).
    Input,
    /// 3×3 convolution, batch normalisation, ReLU.
    Conv3x3,
    /// 1×1 convolution, batch normalisation, ReLU.
    Conv1x1,
    /// 3×3 max pooling, stride 1.
    MaxPool3x3,
    /// The cell's output (the last vertex).
    Output,
}

impl Op {
    /// The interior operations in the benchmark's canonical order.
    pub const INTERIOR: [Op; 3] = [Op::Conv3x3, Op::Conv1x1, Op::MaxPool3x3];

    /// The name the benchmark's files use.
    pub fn name(self) -> &'static str {
        match self {
            Op::Input => "input",
            Op::Conv3x3 => "conv3x3-bn-relu",
            Op::Conv1x1 => "conv1x1-bn-relu",
            Op::MaxPool3x3 => "maxpool3x3",
            Op::Output => "output",
        }
    }

    /// The label of the structural hash: -1 input, -2 output, else the index in
    /// [`Op::INTERIOR`].
    pub fn label(self) -> i32 {
        match self {
            Op::Input => -1,
            Op::Output => -2,
            Op::Conv3x3 => 0,
            Op::Conv1x1 => 1,
            Op::MaxPool3x3 => 2,
        }
    }

    /// Whether this is an interior operation.
    pub fn is_interior(self) -> bool {
        !matches!(self, Op::Input | Op::Output)
    }

    fn code(self) -> u8 {
        self as u8
    }

    fn from_code(code: u8) -> Option<Op> {
        [
            Op::Input,
            Op::Conv3x3,
            Op::Conv1x1,
            Op::MaxPool3x3,
            Op::Output,
        ]
        .get(usize::from(code))
        .copied()
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An operation name that NAS-Bench-101 does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown op {0:?}: expected input, conv3x3-bn-relu, conv1x1-bn-relu, maxpool3x3 or output")]
pub struct UnknownOp(pub String);

impl FromStr for Op {
    type Err = UnknownOp;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "input" => Ok(Op::Input),
            "conv3x3-bn-relu" => Ok(Op::Conv3x3),
            "conv1x1-bn-relu" => Ok(Op::Conv1x1),
            "maxpool3x3" => Ok(Op::MaxPool3x3),
            "output" => Ok(Op::Output),
            other => Err(UnknownOp(other.to_owned())),
        }
    }
}

/// A matrix and op list that cannot form a cell at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CellError {
    /// Fewer than 2 or more than [`MAX_VERTICES`] vertices.
    #[error("a cell has 2..={MAX_VERTICES} vertices, got {0}")]
    VertexCount(usize),
    /// The matrix is not square, or its size differs from the op list's.
    #[error("matrix row {row} has {len} entries, expected {expected} (one per op)")]
    Shape {
        /// The offending row.
        row: usize,
        /// Its length.
        len: usize,
        /// The number of vertices.
        expected: usize,
    },
    /// The matrix string's length is not a square of 2..=7.
    #[error("adjacency string of {0} digits is not a V×V matrix with V in 2..={MAX_VERTICES}")]
    MatrixLength(usize),
    /// An entry other than 0 or 1.
    #[error("matrix entry ({row}, {col}) is {value:?}, expected 0 or 1")]
    Entry {
        /// Row.
        row: usize,
        /// Column.
        col: usize,
        /// What was there.
        value: String,
    },
    /// An edge on or below the diagonal: the matrix must be strictly upper
    /// triangular (vertices in topological order).
    #[error(
        "edge {from} -> {to} is not above the diagonal: the matrix must be strictly upper triangular"
    )]
    NotUpperTriangular {
        /// Source vertex.
        from: usize,
        /// Target vertex.
        to: usize,
    },
    /// The first op is not `input`, the last not `output`, or an interior op is
    /// `input`/`output`.
    #[error("op {index} is {op}; the first op must be input, the last output, the others interior")]
    MisplacedOp {
        /// Vertex index.
        index: usize,
        /// The op found there.
        op: Op,
    },
    /// An op name the benchmark does not know.
    #[error(transparent)]
    UnknownOp(#[from] UnknownOp),
    /// A graph that is not a DAG from one input to one output.
    #[error("graph is not a cell: {0}")]
    Graph(&'static str),
}

/// Why a well-formed cell is not a valid NAS-Bench-101 model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCell {
    /// No path from the input to the output.
    #[error("the output is not reachable from the input")]
    Disconnected,
    /// More than [`MAX_EDGES`] edges after pruning.
    #[error("{0} edges after pruning, at most {MAX_EDGES} allowed")]
    TooManyEdges(usize),
}

/// A cell: vertices `0..n` in topological order, vertex 0 the input, vertex `n - 1`
/// the output, edges only from lower to higher indices (a strictly upper-triangular
/// adjacency matrix, as NAS-Bench-101 stores it).
///
/// A `Cell` is well formed by construction; whether it is a valid model is
/// [`Cell::prune`]'s answer. It is `Copy` and 16 bytes.
///
/// ```
/// use ufh_spaces::nasbench101::{Cell, Op};
///
/// let cell = Cell::new(
///     &[vec![0, 1, 1], vec![0, 0, 1], vec![0, 0, 0]],
///     &[Op::Input, Op::Conv3x3, Op::Output],
/// )?;
/// assert_eq!(cell.num_edges(), 3);
/// assert_eq!(cell.module_hash().to_string(), "d32d0b26d534203b48d866facd98cc3e");
/// # Ok::<(), ufh_spaces::nasbench101::CellError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(into = "CellText", try_from = "CellText")]
pub struct Cell {
    n: u8,
    /// `rows[i]` has bit `j` set when there is an edge `i -> j`.
    rows: [u8; MAX_VERTICES],
    ops: [u8; MAX_VERTICES],
}

/// A cell in serde: the benchmark's text forms of its matrix and ops, checked
/// again when read back (checkpoints, job messages).
#[derive(serde::Serialize, serde::Deserialize)]
struct CellText {
    matrix: String,
    ops: String,
}

impl From<Cell> for CellText {
    fn from(cell: Cell) -> Self {
        Self {
            matrix: cell.matrix_string(),
            ops: cell.ops_string(),
        }
    }
}

impl TryFrom<CellText> for Cell {
    type Error = CellError;
    fn try_from(text: CellText) -> Result<Self, CellError> {
        Cell::from_strings(&text.matrix, &text.ops)
    }
}

impl Cell {
    /// A cell from a square 0/1 matrix and one op per vertex.
    pub fn new(matrix: &[Vec<u8>], ops: &[Op]) -> Result<Cell, CellError> {
        let n = ops.len();
        if !(2..=MAX_VERTICES).contains(&n) {
            return Err(CellError::VertexCount(n));
        }
        if matrix.len() != n {
            return Err(CellError::Shape {
                row: matrix.len().min(n),
                len: 0,
                expected: n,
            });
        }
        let mut rows = [0u8; MAX_VERTICES];
        for (i, row) in matrix.iter().enumerate() {
            if row.len() != n {
                return Err(CellError::Shape {
                    row: i,
                    len: row.len(),
                    expected: n,
                });
            }
            for (j, &value) in row.iter().enumerate() {
                match value {
                    0 => {}
                    1 if j > i => rows[i] |= 1 << j,
                    1 => return Err(CellError::NotUpperTriangular { from: i, to: j }),
                    other => {
                        return Err(CellError::Entry {
                            row: i,
                            col: j,
                            value: other.to_string(),
                        });
                    }
                }
            }
        }
        Self::from_parts(rows, ops)
    }

    /// A cell from the benchmark's text form: `V×V` digits `0`/`1`, row-major, and
    /// comma-separated op names.
    ///
    /// ```
    /// use ufh_spaces::nasbench101::Cell;
    ///
    /// let cell = Cell::from_strings("010001000", "input,maxpool3x3,output")?;
    /// assert_eq!(cell.matrix_string(), "010001000");
    /// assert_eq!(cell.ops_string(), "input,maxpool3x3,output");
    /// # Ok::<(), ufh_spaces::nasbench101::CellError>(())
    /// ```
    pub fn from_strings(adjacency: &str, ops: &str) -> Result<Cell, CellError> {
        let digits = adjacency.as_bytes();
        let n = (2..=MAX_VERTICES)
            .find(|n| n * n == digits.len())
            .ok_or(CellError::MatrixLength(digits.len()))?;
        let mut parsed = [Op::Input; MAX_VERTICES];
        let mut count = 0;
        for name in ops.split(',') {
            if count == MAX_VERTICES {
                return Err(CellError::VertexCount(ops.split(',').count()));
            }
            parsed[count] = name.trim().parse()?;
            count += 1;
        }
        if count != n {
            return Err(CellError::Shape {
                row: 0,
                len: n,
                expected: count,
            });
        }
        let mut rows = [0u8; MAX_VERTICES];
        for (k, &digit) in digits.iter().enumerate() {
            let (i, j) = (k / n, k % n);
            match digit {
                b'0' => {}
                b'1' if j > i => rows[i] |= 1 << j,
                b'1' => return Err(CellError::NotUpperTriangular { from: i, to: j }),
                other => {
                    return Err(CellError::Entry {
                        row: i,
                        col: j,
                        value: char::from(other).escape_default().to_string(),
                    });
                }
            }
        }
        Self::from_parts(rows, &parsed[..n])
    }

    /// A cell from row bitmasks (`rows[i]` bit `j` = edge `i -> j`, `j > i`) and ops.
    fn from_parts(rows: [u8; MAX_VERTICES], ops: &[Op]) -> Result<Cell, CellError> {
        let n = ops.len();
        let mut codes = [0u8; MAX_VERTICES];
        for (index, &op) in ops.iter().enumerate() {
            let expected_ok = match index {
                0 => op == Op::Input,
                i if i == n - 1 => op == Op::Output,
                _ => op.is_interior(),
            };
            if !expected_ok {
                return Err(CellError::MisplacedOp { index, op });
            }
            codes[index] = op.code();
        }
        Ok(Cell {
            n: n as u8,
            rows,
            ops: codes,
        })
    }

    /// Builds a cell from trusted row bitmasks and interior ops; used by the search
    /// space, whose sampling keeps every invariant.
    pub(crate) fn from_bits(n: usize, rows: [u8; MAX_VERTICES], interior: &[Op]) -> Cell {
        debug_assert!((2..=MAX_VERTICES).contains(&n) && interior.len() == n - 2);
        let mut ops = [0u8; MAX_VERTICES];
        ops[0] = Op::Input.code();
        for (slot, op) in ops[1..n - 1].iter_mut().zip(interior) {
            *slot = op.code();
        }
        ops[n - 1] = Op::Output.code();
        let mut masked = [0u8; MAX_VERTICES];
        for i in 0..n {
            // Keep only edges above the diagonal and inside the cell.
            let above = !((2u16 << i) - 1) as u8;
            let inside = ((1u16 << n) - 1) as u8;
            masked[i] = rows[i] & above & inside;
        }
        Cell {
            n: n as u8,
            rows: masked,
            ops,
        }
    }

    /// Number of vertices, input and output included.
    pub fn num_vertices(&self) -> usize {
        usize::from(self.n)
    }

    /// Number of edges.
    pub fn num_edges(&self) -> usize {
        self.rows.iter().map(|r| r.count_ones() as usize).sum()
    }

    /// Whether there is an edge `from -> to`.
    pub fn has_edge(&self, from: usize, to: usize) -> bool {
        from < self.num_vertices() && to < self.num_vertices() && self.rows[from] & (1 << to) != 0
    }

    /// The op of vertex `index`.
    ///
    /// # Panics
    /// If `index` is not a vertex.
    pub fn op(&self, index: usize) -> Op {
        assert!(index < self.num_vertices(), "vertex {index} out of range");
        Op::from_code(self.ops[index]).expect("cell ops are valid by construction")
    }

    /// The ops, one per vertex.
    pub fn ops(&self) -> impl ExactSizeIterator<Item = Op> + '_ {
        (0..self.num_vertices()).map(|i| self.op(i))
    }

    /// Row bitmasks of the adjacency matrix: bit `j` of entry `i` is the edge `i -> j`.
    pub fn row_bits(&self) -> &[u8] {
        &self.rows[..self.num_vertices()]
    }

    /// The adjacency matrix as rows of 0/1.
    pub fn matrix(&self) -> Vec<Vec<u8>> {
        let n = self.num_vertices();
        (0..n)
            .map(|i| (0..n).map(|j| u8::from(self.has_edge(i, j))).collect())
            .collect()
    }

    /// The benchmark's text form of the matrix: `V×V` digits, row-major.
    pub fn matrix_string(&self) -> String {
        let n = self.num_vertices();
        (0..n * n)
            .map(|k| {
                if self.has_edge(k / n, k % n) {
                    '1'
                } else {
                    '0'
                }
            })
            .collect()
    }

    /// The benchmark's text form of the ops: names joined by commas.
    pub fn ops_string(&self) -> String {
        let names: Vec<&str> = self.ops().map(Op::name).collect();
        names.join(",")
    }

    /// In-degree of every vertex.
    pub(crate) fn in_degrees(&self) -> [u8; MAX_VERTICES] {
        let mut degrees = [0u8; MAX_VERTICES];
        for row in self.row_bits() {
            for (j, degree) in degrees.iter_mut().enumerate() {
                *degree += (row >> j) & 1;
            }
        }
        degrees
    }

    /// The cell NAS-Bench-101 keeps: vertices not on an input-to-output path removed
    /// (order kept), checked against the edge limit.
    ///
    /// ```
    /// use ufh_spaces::nasbench101::{Cell, InvalidCell};
    ///
    /// // Vertex 1 hangs off the input and reaches nothing: it is pruned.
    /// let cell = Cell::from_strings("011000000", "input,conv3x3-bn-relu,output")?;
    /// let pruned = cell.prune().expect("input reaches output");
    /// assert_eq!(pruned.matrix_string(), "0100");
    /// let dead = Cell::from_strings("010000000", "input,conv3x3-bn-relu,output")?;
    /// assert_eq!(dead.prune(), Err(InvalidCell::Disconnected));
    /// # Ok::<(), ufh_spaces::nasbench101::CellError>(())
    /// ```
    pub fn prune(&self) -> Result<Cell, InvalidCell> {
        let n = self.num_vertices();
        let output = n - 1;
        // Forward reachability from the input, in topological order.
        let mut from_input = 1u8;
        for i in 0..n {
            if from_input & (1 << i) != 0 {
                from_input |= self.rows[i];
            }
        }
        // Backward reachability to the output, in reverse topological order.
        let mut to_output = 1u8 << output;
        for i in (0..n).rev() {
            if self.rows[i] & to_output != 0 {
                to_output |= 1 << i;
            }
        }
        let keep = from_input & to_output;
        if keep & 1 == 0 || keep & (1 << output) == 0 {
            return Err(InvalidCell::Disconnected);
        }
        let pruned = if keep.count_ones() as usize == n {
            *self
        } else {
            self.induced(keep)
        };
        let edges = pruned.num_edges();
        if edges > MAX_EDGES {
            return Err(InvalidCell::TooManyEdges(edges));
        }
        Ok(pruned)
    }

    /// Whether the cell is a valid NAS-Bench-101 model.
    pub fn is_valid(&self) -> bool {
        self.prune().is_ok()
    }

    /// The sub-cell on the vertices in `keep` (a bitmask), order kept.
    fn induced(&self, keep: u8) -> Cell {
        let n = self.num_vertices();
        let kept: Vec<usize> = (0..n).filter(|&i| keep & (1 << i) != 0).collect();
        let mut rows = [0u8; MAX_VERTICES];
        let mut ops = [0u8; MAX_VERTICES];
        for (new_i, &old_i) in kept.iter().enumerate() {
            ops[new_i] = self.ops[old_i];
            for (new_j, &old_j) in kept.iter().enumerate() {
                if self.rows[old_i] & (1 << old_j) != 0 {
                    rows[new_i] |= 1 << new_j;
                }
            }
        }
        Cell {
            n: kept.len() as u8,
            rows,
            ops,
        }
    }

    /// The cell as a `petgraph` graph: node `i` is vertex `i`, weighted by its op.
    pub fn to_graph(&self) -> DiGraph<Op, ()> {
        let n = self.num_vertices();
        let mut graph = DiGraph::with_capacity(n, self.num_edges());
        for op in self.ops() {
            graph.add_node(op);
        }
        for i in 0..n {
            for j in i + 1..n {
                if self.has_edge(i, j) {
                    graph.add_edge(NodeIndex::new(i), NodeIndex::new(j), ());
                }
            }
        }
        graph
    }

    /// A cell from a `petgraph` graph of ops, in any node order: the graph must be
    /// acyclic, with one [`Op::Input`] without in-edges and one [`Op::Output`]
    /// without out-edges. Vertices are numbered in a topological order with the
    /// input first and the output last, ties broken by node index (so
    /// `Cell::from_graph(&cell.to_graph())` is `cell`).
    pub fn from_graph(graph: &DiGraph<Op, ()>) -> Result<Cell, CellError> {
        let n = graph.node_count();
        if !(2..=MAX_VERTICES).contains(&n) {
            return Err(CellError::VertexCount(n));
        }
        let find = |wanted: Op| {
            let mut found = graph.node_indices().filter(|&v| graph[v] == wanted);
            match (found.next(), found.next()) {
                (Some(v), None) => Ok(v),
                _ => Err(CellError::Graph(
                    "expected exactly one input and one output vertex",
                )),
            }
        };
        let input = find(Op::Input)?;
        let output = find(Op::Output)?;
        // Kahn's algorithm, always taking the ready vertex of smallest index, so a
        // graph whose node order is already topological keeps it.
        let mut in_degree = vec![0usize; n];
        for edge in graph.raw_edges() {
            in_degree[edge.target().index()] += 1;
        }
        let mut order = Vec::with_capacity(n);
        let mut done = vec![false; n];
        while order.len() < n {
            let next = (0..n)
                .find(|&v| !done[v] && in_degree[v] == 0)
                .ok_or(CellError::Graph("the graph has a cycle"))?;
            done[next] = true;
            order.push(NodeIndex::new(next));
            for successor in graph.neighbors(NodeIndex::new(next)) {
                in_degree[successor.index()] -= 1;
            }
        }
        let mut position = vec![0usize; n];
        let mut next = 1;
        for &v in &order {
            position[v.index()] = if v == input {
                0
            } else if v == output {
                n - 1
            } else {
                next += 1;
                next - 1
            };
        }
        let mut rows = [0u8; MAX_VERTICES];
        for edge in graph.raw_edges() {
            let (from, to) = (
                position[edge.source().index()],
                position[edge.target().index()],
            );
            if to <= from {
                return Err(CellError::Graph(
                    "the input has an in-edge or the output an out-edge",
                ));
            }
            rows[from] |= 1 << to;
        }
        let mut ops = vec![Op::Input; n];
        for v in graph.node_indices() {
            ops[position[v.index()]] = graph[v];
        }
        Self::from_parts(rows, &ops)
    }

    /// Compact serialisation: vertex count, 7 row bitmasks, 7 op codes.
    pub(crate) fn to_bytes(self) -> [u8; 15] {
        let mut bytes = [0u8; 15];
        bytes[0] = self.n;
        bytes[1..8].copy_from_slice(&self.rows);
        bytes[8..15].copy_from_slice(&self.ops);
        bytes
    }

    /// Inverse of [`Cell::to_bytes`], rechecking every invariant.
    pub(crate) fn from_bytes(bytes: &[u8; 15]) -> Result<Cell, CellError> {
        let n = usize::from(bytes[0]);
        if !(2..=MAX_VERTICES).contains(&n) {
            return Err(CellError::VertexCount(n));
        }
        let mut ops = Vec::with_capacity(n);
        for &code in &bytes[8..8 + n] {
            ops.push(Op::from_code(code).ok_or(CellError::Graph("unknown op code"))?);
        }
        let mut rows = [0u8; MAX_VERTICES];
        rows.copy_from_slice(&bytes[1..8]);
        for (i, &row) in rows.iter().enumerate() {
            let allowed = if i < n {
                !((2u16 << i) - 1) as u8 & ((1u16 << n) - 1) as u8
            } else {
                0
            };
            if row & !allowed != 0 {
                return Err(CellError::Graph("edge outside the upper triangle"));
            }
        }
        Self::from_parts(rows, &ops)
    }
}

impl fmt::Debug for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cell")
            .field("matrix", &self.matrix_string())
            .field("ops", &self.ops_string())
            .finish()
    }
}

impl fmt::Display for Cell {
    /// One row per vertex: its op and its successors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in 0..self.num_vertices() {
            let successors: Vec<String> = (0..self.num_vertices())
                .filter(|&j| self.has_edge(i, j))
                .map(|j| j.to_string())
                .collect();
            writeln!(
                f,
                "{i}: {:<16} -> [{}]",
                self.op(i).name(),
                successors.join(", ")
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(matrix: &str, ops: &str) -> Cell {
        Cell::from_strings(matrix, ops).unwrap()
    }

    #[test]
    fn text_form_round_trips_and_errors_name_the_value() {
        let c = cell(
            "0110001000010000",
            "input,conv1x1-bn-relu,maxpool3x3,output",
        );
        assert_eq!(c.num_vertices(), 4);
        assert_eq!(c.num_edges(), 4);
        assert_eq!(
            Cell::new(&c.matrix(), &c.ops().collect::<Vec<_>>()).unwrap(),
            c
        );
        assert_eq!(c.matrix_string(), "0110001000010000");

        assert_eq!(
            Cell::from_strings("01000", "input,output"),
            Err(CellError::MatrixLength(5))
        );
        let err = Cell::from_strings("0100", "input,conv5x5,output").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown op \"conv5x5\": expected input, conv3x3-bn-relu, conv1x1-bn-relu, maxpool3x3 or output"
        );
        assert_eq!(
            Cell::from_strings("0010", "input,output"),
            Err(CellError::NotUpperTriangular { from: 1, to: 0 })
        );
        assert!(matches!(
            Cell::from_strings("0200", "input,output"),
            Err(CellError::Entry { row: 0, col: 1, .. })
        ));
        assert_eq!(
            Cell::from_strings("0100", "output,input"),
            Err(CellError::MisplacedOp {
                index: 0,
                op: Op::Output
            })
        );
    }

    #[test]
    fn serde_writes_the_text_forms_and_checks_them_when_reading() {
        let c = cell(
            "0110001000010000",
            "input,conv1x1-bn-relu,maxpool3x3,output",
        );
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            json,
            r#"{"matrix":"0110001000010000","ops":"input,conv1x1-bn-relu,maxpool3x3,output"}"#
        );
        assert_eq!(serde_json::from_str::<Cell>(&json).unwrap(), c);
        let err =
            serde_json::from_str::<Cell>(r#"{"matrix":"0010","ops":"input,output"}"#).unwrap_err();
        assert!(err.to_string().contains("upper"), "{err}");
    }

    #[test]
    fn pruning_removes_vertices_off_every_input_output_path() {
        // 0 -> 1 -> 4, 0 -> 2 (dead end), 3 -> 4 (unreachable from input).
        let c = cell(
            "0110000001000000000100000",
            "input,conv3x3-bn-relu,conv1x1-bn-relu,maxpool3x3,output",
        );
        let pruned = c.prune().unwrap();
        assert_eq!(pruned.matrix_string(), "010001000");
        assert_eq!(pruned.ops_string(), "input,conv3x3-bn-relu,output");
        // An already pruned cell is its own pruning.
        assert_eq!(pruned.prune(), Ok(pruned));
    }

    #[test]
    fn too_many_edges_after_pruning_is_invalid() {
        // All 21 edges of a 7-vertex DAG.
        let full: Vec<Vec<u8>> = (0..7)
            .map(|i| (0..7).map(|j| u8::from(j > i)).collect())
            .collect();
        let ops = [
            Op::Input,
            Op::Conv3x3,
            Op::Conv3x3,
            Op::Conv3x3,
            Op::Conv3x3,
            Op::Conv3x3,
            Op::Output,
        ];
        let c = Cell::new(&full, &ops).unwrap();
        assert_eq!(c.prune(), Err(InvalidCell::TooManyEdges(21)));
        assert!(!c.is_valid());
    }

    #[test]
    fn petgraph_round_trip_in_any_node_order() {
        let c = cell(
            "0110000100010000",
            "input,conv1x1-bn-relu,maxpool3x3,output",
        );
        assert_eq!(Cell::from_graph(&c.to_graph()).unwrap(), c);

        // The same cell with nodes added output-first.
        let mut g = DiGraph::new();
        let out = g.add_node(Op::Output);
        let pool = g.add_node(Op::MaxPool3x3);
        let conv = g.add_node(Op::Conv1x1);
        let input = g.add_node(Op::Input);
        g.add_edge(input, conv, ());
        g.add_edge(input, pool, ());
        g.add_edge(conv, out, ());
        g.add_edge(pool, out, ());
        let back = Cell::from_graph(&g).unwrap();
        assert_eq!(back.module_hash(), c.module_hash());

        g.add_edge(out, input, ());
        assert!(matches!(Cell::from_graph(&g), Err(CellError::Graph(_))));
    }

    #[test]
    fn bytes_round_trip_and_reject_corruption() {
        let c = cell(
            "0110001000010000",
            "input,conv1x1-bn-relu,maxpool3x3,output",
        );
        assert_eq!(Cell::from_bytes(&c.to_bytes()).unwrap(), c);
        let mut bad = c.to_bytes();
        bad[2] |= 1; // edge 1 -> 0
        assert!(Cell::from_bytes(&bad).is_err());
        let mut bad = c.to_bytes();
        bad[9] = 9;
        assert!(Cell::from_bytes(&bad).is_err());
    }
}
