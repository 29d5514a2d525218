//! The instruction set: AutoML-Zero's 65 operations, with the IDs of its paper.

use std::fmt;

/// The kind of a memory address an operand or result lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A scalar (`s`), an `f64`.
    Scalar,
    /// A vector (`v`) of F `f64`s.
    Vector,
    /// An F × F matrix (`m`) of `f64`s.
    Matrix,
}

impl Kind {
    /// The letter addresses of this kind are written with: `s`, `v` or `m`.
    pub fn letter(self) -> char {
        match self {
            Kind::Scalar => 's',
            Kind::Vector => 'v',
            Kind::Matrix => 'm',
        }
    }
}

/// What the data fields of an instruction mean for its op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    /// No data.
    None,
    /// A constant: `data[0]` is the value; vector and matrix ops also use the
    /// instruction's indices to pick the element set.
    Constant,
    /// A uniform distribution on `[data[0], data[1])`.
    Uniform,
    /// A Gaussian distribution with mean `data[0]` and standard deviation
    /// `data[1]`.
    Gaussian,
}

macro_rules! ops {
    ($( $id:literal $name:ident $text:literal ( $($input:ident),* ) -> $output:ident, $data:ident ; )*) => {
        /// One of AutoML-Zero's 65 operations; the discriminant is the op's ID in
        /// the AutoML-Zero paper (Real et al., 2020, Table S1).
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        #[repr(u8)]
        pub enum Op {
            $(
                #[doc = $text]
                $name = $id,
            )*
        }

        impl Op {
            /// Every op, by ID.
            pub const ALL: [Op; 65] = [$(Op::$name),*];

            /// The kinds of the op's inputs, in order (none, one or two).
            #[inline]
            pub const fn inputs(self) -> &'static [Kind] {
                match self {
                    $(Op::$name => &[$(Kind::$input),*],)*
                }
            }

            /// The kind of the op's output; `None` for the no-op only.
            #[inline]
            pub const fn output(self) -> Option<Kind> {
                match self {
                    $(Op::$name => ops!(@output $output),)*
                }
            }

            /// What the instruction's data fields mean for this op.
            #[inline]
            pub const fn data(self) -> DataKind {
                match self {
                    $(Op::$name => DataKind::$data,)*
                }
            }

            /// The op's name in AutoML-Zero's code style, `SCALAR_SUM_OP` etc.
            pub fn name(self) -> &'static str {
                match self {
                    $(Op::$name => stringify!($name),)*
                }
            }
        }
    };
    (@output None) => { None };
    (@output $kind:ident) => { Some(Kind::$kind) };
}

ops! {
    0 NoOp "0: does nothing." () -> None, None;
    1 ScalarSum "1: `s = s_a + s_b`." (Scalar, Scalar) -> Scalar, None;
    2 ScalarDiff "2: `s = s_a - s_b`." (Scalar, Scalar) -> Scalar, None;
    3 ScalarProduct "3: `s = s_a * s_b`." (Scalar, Scalar) -> Scalar, None;
    4 ScalarDivision "4: `s = s_a / s_b`." (Scalar, Scalar) -> Scalar, None;
    5 ScalarAbs "5: `s = |s_a|`." (Scalar) -> Scalar, None;
    6 ScalarReciprocal "6: `s = 1 / s_a`." (Scalar) -> Scalar, None;
    7 ScalarSin "7: `s = sin(s_a)`." (Scalar) -> Scalar, None;
    8 ScalarCos "8: `s = cos(s_a)`." (Scalar) -> Scalar, None;
    9 ScalarTan "9: `s = tan(s_a)`." (Scalar) -> Scalar, None;
    10 ScalarArcSin "10: `s = arcsin(s_a)`." (Scalar) -> Scalar, None;
    11 ScalarArcCos "11: `s = arccos(s_a)`." (Scalar) -> Scalar, None;
    12 ScalarArcTan "12: `s = arctan(s_a)`." (Scalar) -> Scalar, None;
    13 ScalarExp "13: `s = exp(s_a)`." (Scalar) -> Scalar, None;
    14 ScalarLog "14: `s = ln(s_a)`." (Scalar) -> Scalar, None;
    15 ScalarHeaviside "15: `s = 1 if s_a >= 0 else 0`." (Scalar) -> Scalar, None;
    16 VectorHeaviside "16: `v[i] = 1 if v_a[i] > 0 else 0`." (Vector) -> Vector, None;
    17 MatrixHeaviside "17: `m[i][j] = 1 if m_a[i][j] > 0 else 0`." (Matrix) -> Matrix, None;
    18 ScalarVectorProduct "18: `v = s_a * v_b`." (Scalar, Vector) -> Vector, None;
    19 ScalarBroadcast "19: `v[i] = s_a`." (Scalar) -> Vector, None;
    20 VectorReciprocal "20: `v[i] = 1 / v_a[i]`." (Vector) -> Vector, None;
    21 VectorNorm "21: `s = |v_a|`, the L2 norm." (Vector) -> Scalar, None;
    22 VectorAbs "22: `v[i] = |v_a[i]|`." (Vector) -> Vector, None;
    23 VectorSum "23: `v = v_a + v_b`." (Vector, Vector) -> Vector, None;
    24 VectorDiff "24: `v = v_a - v_b`." (Vector, Vector) -> Vector, None;
    25 VectorProduct "25: `v[i] = v_a[i] * v_b[i]`." (Vector, Vector) -> Vector, None;
    26 VectorDivision "26: `v[i] = v_a[i] / v_b[i]`." (Vector, Vector) -> Vector, None;
    27 VectorInnerProduct "27: `s = v_a . v_b`." (Vector, Vector) -> Scalar, None;
    28 VectorOuterProduct "28: `m[i][j] = v_a[i] * v_b[j]`." (Vector, Vector) -> Matrix, None;
    29 ScalarMatrixProduct "29: `m = s_a * m_b`." (Scalar, Matrix) -> Matrix, None;
    30 MatrixReciprocal "30: `m[i][j] = 1 / m_a[i][j]`." (Matrix) -> Matrix, None;
    31 MatrixVectorProduct "31: `v = m_a v_b`." (Matrix, Vector) -> Vector, None;
    32 VectorColumnBroadcast "32: every column of `m` is `v_a`: `m[i][j] = v_a[i]`." (Vector) -> Matrix, None;
    33 VectorRowBroadcast "33: every row of `m` is `v_a`: `m[i][j] = v_a[j]`." (Vector) -> Matrix, None;
    34 MatrixNorm "34: `s = |m_a|`, the Frobenius norm." (Matrix) -> Scalar, None;
    35 MatrixColumnNorm "35: `v[j] = |m_a[.][j]|`, the L2 norm of each column." (Matrix) -> Vector, None;
    36 MatrixRowNorm "36: `v[i] = |m_a[i][.]|`, the L2 norm of each row." (Matrix) -> Vector, None;
    37 MatrixTranspose "37: `m = m_a^T`." (Matrix) -> Matrix, None;
    38 MatrixAbs "38: `m[i][j] = |m_a[i][j]|`." (Matrix) -> Matrix, None;
    39 MatrixSum "39: `m = m_a + m_b`." (Matrix, Matrix) -> Matrix, None;
    40 MatrixDiff "40: `m = m_a - m_b`." (Matrix, Matrix) -> Matrix, None;
    41 MatrixProduct "41: `m[i][j] = m_a[i][j] * m_b[i][j]`." (Matrix, Matrix) -> Matrix, None;
    42 MatrixDivision "42: `m[i][j] = m_a[i][j] / m_b[i][j]`." (Matrix, Matrix) -> Matrix, None;
    43 MatrixMatrixProduct "43: `m = m_a m_b`." (Matrix, Matrix) -> Matrix, None;
    44 ScalarMin "44: `s = min(s_a, s_b)`." (Scalar, Scalar) -> Scalar, None;
    45 VectorMin "45: `v[i] = min(v_a[i], v_b[i])`." (Vector, Vector) -> Vector, None;
    46 MatrixMin "46: `m[i][j] = min(m_a[i][j], m_b[i][j])`." (Matrix, Matrix) -> Matrix, None;
    47 ScalarMax "47: `s = max(s_a, s_b)`." (Scalar, Scalar) -> Scalar, None;
    48 VectorMax "48: `v[i] = max(v_a[i], v_b[i])`." (Vector, Vector) -> Vector, None;
    49 MatrixMax "49: `m[i][j] = max(m_a[i][j], m_b[i][j])`." (Matrix, Matrix) -> Matrix, None;
    50 VectorMean "50: `s = mean(v_a)`." (Vector) -> Scalar, None;
    51 MatrixMean "51: `s = mean(m_a)`." (Matrix) -> Scalar, None;
    52 MatrixRowMean "52: `v[i] = mean(m_a[i][.])`." (Matrix) -> Vector, None;
    53 MatrixRowStDev "53: `v[i] = stdev(m_a[i][.])`, population standard deviation." (Matrix) -> Vector, None;
    54 VectorStDev "54: `s = stdev(v_a)`." (Vector) -> Scalar, None;
    55 MatrixStDev "55: `s = stdev(m_a)`." (Matrix) -> Scalar, None;
    56 ScalarConstSet "56: `s = c`." () -> Scalar, Constant;
    57 VectorConstSet "57: `v[i] = c`, one element." () -> Vector, Constant;
    58 MatrixConstSet "58: `m[i][j] = c`, one element." () -> Matrix, Constant;
    59 ScalarUniformSet "59: `s ~ U(a, b)`." () -> Scalar, Uniform;
    60 VectorUniformSet "60: `v[i] ~ U(a, b)` for every i." () -> Vector, Uniform;
    61 MatrixUniformSet "61: `m[i][j] ~ U(a, b)` for every i, j." () -> Matrix, Uniform;
    62 ScalarGaussianSet "62: `s ~ N(mu, sigma)`." () -> Scalar, Gaussian;
    63 VectorGaussianSet "63: `v[i] ~ N(mu, sigma)` for every i." () -> Vector, Gaussian;
    64 MatrixGaussianSet "64: `m[i][j] ~ N(mu, sigma)` for every i, j." () -> Matrix, Gaussian;
}

/// In [`OPERANDS`]: an operand the op does not have.
pub(crate) const NO_OPERAND: u8 = 3;

/// Each op's operand kinds by ID, for analyses that look them up in a table rather
/// than branch on the op: `[first input, second input, output]`, each a [`Kind`]
/// as `0` scalar, `1` vector, `2` matrix, or [`NO_OPERAND`].
pub(crate) static OPERANDS: [[u8; 3]; 65] = {
    let mut table = [[NO_OPERAND; 3]; 65];
    let mut id = 0;
    while id < Op::ALL.len() {
        let op = Op::ALL[id];
        let inputs = op.inputs();
        let mut slot = 0;
        while slot < inputs.len() {
            table[id][slot] = inputs[slot] as u8;
            slot += 1;
        }
        if let Some(kind) = op.output() {
            table[id][2] = kind as u8;
        }
        id += 1;
    }
    table
};

impl Op {
    /// The op with AutoML-Zero ID `id`, if there is one.
    pub fn from_id(id: u8) -> Option<Op> {
        Op::ALL.get(usize::from(id)).copied()
    }

    /// The op's ID in the AutoML-Zero paper.
    pub fn id(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positions_and_round_trip() {
        for (i, op) in Op::ALL.iter().enumerate() {
            assert_eq!(usize::from(op.id()), i, "{op}");
            assert_eq!(Op::from_id(op.id()), Some(*op));
        }
        assert_eq!(Op::from_id(65), None);
    }

    #[test]
    fn only_the_no_op_has_no_output_and_setters_have_data() {
        for op in Op::ALL {
            assert_eq!(op.output().is_none(), op == Op::NoOp, "{op}");
            let setter = op.inputs().is_empty() && op != Op::NoOp;
            assert_eq!(setter, op.data() != DataKind::None, "{op}");
        }
        assert_eq!(
            Op::VectorInnerProduct.inputs(),
            &[Kind::Vector, Kind::Vector]
        );
        assert_eq!(Op::VectorInnerProduct.output(), Some(Kind::Scalar));
        assert_eq!(
            Op::MatrixVectorProduct.inputs(),
            &[Kind::Matrix, Kind::Vector]
        );
    }
}
