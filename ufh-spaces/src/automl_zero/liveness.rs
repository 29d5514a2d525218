//! Dead-code elimination: the instructions whose results can reach a prediction.
//!
//! Execution runs Setup, then Predict and Learn alternately for every training
//! example, then Predict alone for every validation (and test) example; the
//! interpreter reads `s1` after every Predict. Strong liveness over that loop (an
//! instruction's inputs are live only if the instruction itself is) finds every
//! instruction whose output is never read before it is overwritten, or is read
//! only by such instructions. Removing them changes no prediction, no error, no
//! fitness and no hash, bit for bit; it only saves time. Ops that draw random
//! numbers are always kept, since removing one would shift the random stream of
//! the ops after it.

use super::op::{DataKind, Kind, NO_OPERAND, OPERANDS, Op};
use super::program::{Instruction, PREDICTION, Program};

/// A set of addresses: bit `32·kind + address`.
type Set = u128;

const KIND_BITS: u32 = 32;

fn bit(kind: Kind, address: u8) -> Set {
    let offset = match kind {
        Kind::Scalar => 0,
        Kind::Vector => KIND_BITS,
        Kind::Matrix => 2 * KIND_BITS,
    };
    1 << (offset + u32::from(address))
}

const fn has_side_effect(op: Op) -> bool {
    matches!(op.data(), DataKind::Uniform | DataKind::Gaussian)
}

/// Whether `op` overwrites its whole output (a constant-set of one element of a
/// vector or matrix keeps the rest).
const fn kills(op: Op) -> bool {
    !matches!(op, Op::VectorConstSet | Op::MatrixConstSet)
}

/// What liveness needs of an op, looked up by ID so that the analysis does not
/// branch on ops: per operand slot (first input, second input, output) the bit
/// offset of its kind and whether the op has it, and whether the op always runs.
#[derive(Clone, Copy)]
struct Flow {
    offset: [u32; 3],
    present: [u128; 3],
    /// `u128::MAX` if the op overwrites its whole output, else 0.
    kill: u128,
    side_effect: bool,
}

static FLOW: [Flow; 65] = {
    let mut table = [Flow {
        offset: [0; 3],
        present: [0; 3],
        kill: 0,
        side_effect: false,
    }; 65];
    let mut id = 0;
    while id < Op::ALL.len() {
        let op = Op::ALL[id];
        let mut slot = 0;
        while slot < 3 {
            let kind = OPERANDS[id][slot];
            if kind != NO_OPERAND {
                table[id].offset[slot] = kind as u32 * KIND_BITS;
                table[id].present[slot] = 1;
            }
            slot += 1;
        }
        table[id].kill = if kills(op) { u128::MAX } else { 0 };
        table[id].side_effect = has_side_effect(op);
        id += 1;
    }
    table
};

/// Runs `code` backwards from `live_out`: the live set before it, and, if `keep`
/// is given, which instructions are live. Addresses must be below [`KIND_BITS`].
fn transfer(code: &[Instruction], mut live: Set, mut keep: Option<&mut [bool]>) -> Set {
    for (i, ins) in code.iter().enumerate().rev() {
        let flow = &FLOW[usize::from(ins.op.id())];
        let set = |slot: usize, address: u8| {
            flow.present[slot] << (flow.offset[slot] + u32::from(address))
        };
        let out = set(2, ins.out);
        let alive = flow.side_effect || live & out != 0;
        if let Some(keep) = keep.as_deref_mut() {
            keep[i] = alive;
        }
        if alive {
            live = (live & !(out & flow.kill)) | set(0, ins.in1) | set(1, ins.in2);
        }
    }
    live
}

/// Writes the live instructions of `code` into `out`, `keep` serving as scratch.
fn retain_into(
    code: &[Instruction],
    live_out: Set,
    keep: &mut Vec<bool>,
    out: &mut Vec<Instruction>,
) {
    keep.clear();
    keep.resize(code.len(), false);
    transfer(code, live_out, Some(keep));
    out.clear();
    out.extend(
        code.iter()
            .zip(keep.iter())
            .filter_map(|(ins, &keep)| keep.then_some(*ins)),
    );
}

/// `program` without the instructions that cannot affect a prediction; `None` if
/// an address is beyond the 32 per kind this analysis tracks (run such a program
/// as it is).
pub fn live_code(program: &Program) -> Option<Program> {
    let mut live = Program::default();
    live_code_into(program, &mut Vec::new(), &mut live).then_some(live)
}

/// [`live_code`] into `out`, reusing its instruction lists and the scratch
/// `keep`: no allocation once they have grown to the program's size. Returns
/// whether it could analyse the program; if not, `out` is left as it was.
pub(crate) fn live_code_into(program: &Program, keep: &mut Vec<bool>, out: &mut Program) -> bool {
    let all = program
        .setup
        .iter()
        .chain(&program.predict)
        .chain(&program.learn);
    for ins in all {
        let too_far = |a: u8| u32::from(a) >= KIND_BITS;
        if too_far(ins.in1) || too_far(ins.in2) || too_far(ins.out) {
            return false;
        }
    }
    let prediction = bit(Kind::Scalar, PREDICTION);
    // Fixed point of the loop: after Predict come Learn (training), Predict
    // (validation) or the end, and the interpreter reads the prediction; after
    // Learn comes Predict. The sets only grow, and there are finitely many.
    let (mut in_predict, mut in_learn) = (0, 0);
    loop {
        let out_predict = prediction | in_learn | in_predict;
        let next_predict = transfer(&program.predict, out_predict, None);
        let next_learn = transfer(&program.learn, next_predict, None);
        if (next_predict, next_learn) == (in_predict, in_learn) {
            break;
        }
        (in_predict, in_learn) = (next_predict, next_learn);
    }
    retain_into(&program.setup, in_predict, keep, &mut out.setup);
    retain_into(
        &program.predict,
        prediction | in_learn | in_predict,
        keep,
        &mut out.predict,
    );
    retain_into(&program.learn, in_predict, keep, &mut out.learn);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ins(op: Op, inputs: &[u8], out: u8) -> Instruction {
        Instruction::new(op, inputs, out)
    }

    #[test]
    fn keeps_sgd_and_drops_what_never_reaches_the_prediction() {
        let sgd = crate::automl_zero::sgd_program(0.1);
        let mut padded = sgd.clone();
        // Overwritten in Learn before any read; v2 likewise; s3 rewritten too.
        padded.setup.insert(0, ins(Op::ScalarSum, &[2, 2], 3));
        padded.setup.push(ins(Op::VectorSum, &[0, 0], 2));
        padded.learn.push(ins(Op::MatrixNorm, &[0], 3));
        assert_eq!(live_code(&padded).unwrap(), sgd);
    }

    #[test]
    fn values_carried_across_examples_stay_live() {
        // Learn reads s2 that it wrote on the previous example: a running sum.
        let program = Program {
            setup: vec![],
            predict: vec![ins(Op::ScalarSum, &[2, 0], 1)],
            learn: vec![ins(Op::ScalarSum, &[2, 0], 2)],
        };
        assert_eq!(live_code(&program).unwrap(), program);
    }

    #[test]
    fn random_ops_are_kept_and_partial_writes_do_not_kill() {
        let gaussian = Instruction {
            op: Op::ScalarGaussianSet,
            out: 3,
            data: [0.0, 1.0],
            ..Instruction::NO_OP
        };
        let set_element = Instruction {
            op: Op::VectorConstSet,
            out: 1,
            index: [2, 0],
            data: [0.5, 0.0],
            ..Instruction::NO_OP
        };
        let program = Program {
            setup: vec![ins(Op::ScalarBroadcast, &[2], 1), set_element, gaussian],
            predict: vec![ins(Op::VectorMean, &[1], 1)],
            learn: vec![],
        };
        assert_eq!(live_code(&program).unwrap(), program, "every one matters");
    }
}
