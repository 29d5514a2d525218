use super::*;
use crate::autorl::{CartPole, CartPoleVersion};

fn transition(i: usize) -> Transition {
    Transition {
        state: vec![i as f32],
        action: i % 2,
        reward: 1.0,
        next_state: vec![i as f32 + 1.0],
        terminal: false,
    }
}

#[test]
fn the_replay_buffer_keeps_the_newest_and_samples_uniformly() {
    let mut buffer = ReplayBuffer::new(4);
    assert!(buffer.is_empty());
    for i in 0..6 {
        buffer.push(transition(i));
    }
    assert_eq!(buffer.len(), 4);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let mut counts = [0usize; 6];
    for t in buffer.sample(40_000, &mut rng) {
        counts[t.state[0] as usize] += 1;
    }
    // 0 and 1 were overwritten; 2..6 each about a quarter.
    assert_eq!(&counts[..2], &[0, 0]);
    for &c in &counts[2..] {
        assert!((9_400..10_600).contains(&c), "{counts:?}");
    }
}

#[test]
fn epsilon_falls_linearly_then_stays() {
    let e = EpsilonSchedule {
        start: 1.0,
        end: 0.02,
        decay_steps: 1_000,
    };
    assert_eq!(e.at(0), 1.0);
    assert!((e.at(500) - 0.51).abs() < 1e-12);
    assert!((e.at(999) - (1.0 - 0.98 * 0.999)).abs() < 1e-12);
    assert_eq!(e.at(1_000), 0.02);
    assert_eq!(e.at(1_000_000), 0.02);
}

#[test]
fn the_dqn_loss_and_its_gradient() {
    // Two transitions, two actions.
    let q_prev = [1.0, 2.0, 0.5, -1.0];
    let target_next = [3.0, 1.0, 0.0, 4.0];
    let inputs = LossInputs {
        batch: 2,
        actions: 2,
        q_prev: &q_prev,
        q_next: &[0.0; 4],
        target_prev: &[0.0; 4],
        target_next: &target_next,
        action: &[1, 0],
        reward: &[1.0, -1.0],
        discount: &[0.5, 0.0],
        noise_seed: 0,
    };
    let (value, grad) = DqnLoss.loss(&inputs);
    // δ₀ = 2 − (1 + 0.5·3) = −0.5; δ₁ = 0.5 − (−1 + 0) = 1.5.
    assert!((value - (0.5 * 0.25 + 0.5 * 2.25) / 2.0).abs() < 1e-7);
    assert_eq!(grad.q_prev, vec![0.0, -0.25, 0.75, 0.0]);
    assert!(grad.q_next.iter().all(|&g| g == 0.0));
}

#[test]
fn network_gradients_match_finite_differences() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
    let net = QNetwork::new(3, &[5, 4], 2, &mut rng);
    let x: Vec<f32> = (0..6).map(|i| 0.3 * i as f32 - 0.7).collect();
    let w: Vec<f32> = vec![0.5, -1.0, 2.0, 0.25];
    let objective = |n: &QNetwork| -> f64 {
        n.q_values(&x, 2)
            .iter()
            .zip(&w)
            .map(|(q, w)| f64::from(*q) * f64::from(*w))
            .sum()
    };
    let activations = net.forward(&x, 2);
    let mut grads: Vec<(Vec<f32>, Vec<f32>)> = net
        .layers
        .iter()
        .map(|l| (vec![0.0; l.weights.len()], vec![0.0; l.bias.len()]))
        .collect();
    net.backward(&x, 2, &activations, &w, &mut grads);
    let mut checked = 0;
    #[allow(clippy::needless_range_loop)]
    // reason: l indexes the network's layers and their gradients together
    for l in 0..3 {
        for k in [0, net.layers[l].weights.len() - 1] {
            let h = 1e-3f32;
            let mut plus = net.clone();
            plus.layers[l].weights[k] += h;
            let mut minus = net.clone();
            minus.layers[l].weights[k] -= h;
            let numeric = (objective(&plus) - objective(&minus)) / (2.0 * f64::from(h));
            let analytic = f64::from(grads[l].0[k]);
            assert!(
                (numeric - analytic).abs() < 2e-3,
                "layer {l} weight {k}: {numeric} vs {analytic}"
            );
            checked += usize::from(analytic != 0.0);
        }
        let h = 1e-3f32;
        let mut plus = net.clone();
        plus.layers[l].bias[0] += h;
        let mut minus = net.clone();
        minus.layers[l].bias[0] -= h;
        let numeric = (objective(&plus) - objective(&minus)) / (2.0 * f64::from(h));
        assert!(
            (numeric - f64::from(grads[l].1[0])).abs() < 2e-3,
            "layer {l} bias"
        );
    }
    assert!(checked >= 3, "{checked}");
}

#[test]
fn a_run_is_a_function_of_its_seed() {
    let config = DqnConfig {
        hidden: vec![16],
        episodes: 12,
        learning_starts: 50,
        ..DqnConfig::evolving_rl()
    };
    let mut env = CartPole::new(CartPoleVersion::V0);
    let a = train_dqn(&mut env, &DqnLoss, &config, 5);
    let b = train_dqn(&mut env, &DqnLoss, &config, 5);
    assert_eq!(a, b);
    assert_eq!(a.returns.len(), 12);
    assert!(!a.diverged);
    assert_ne!(train_dqn(&mut env, &DqnLoss, &config, 6).returns, a.returns);
}

#[test]
fn dqn_learns_cartpole_at_the_scaled_settings() {
    if !crate::slow_tier() {
        return;
    }
    let run = train_dqn(
        &mut CartPole::new(CartPoleVersion::V0),
        &DqnLoss,
        &DqnConfig::scaled(),
        // One of the 7 seeds of 30 at which DQN clears the hurdle at these
        // settings (`cargo xtask autorl --named-losses 30`).
        2,
    );
    assert!(!run.diverged);
    assert!(run.score >= 0.6, "score {}", run.score);
    assert_eq!(run.returns.len(), 150);
    // The first episodes, mostly random, fall early.
    let early = run.returns[..10].iter().sum::<f64>() / 10.0;
    assert!(early < 60.0, "{early}");
}

/// A loss that blows up: its value is infinite.
struct Exploding;

impl TdLoss for Exploding {
    fn loss(&self, x: &LossInputs<'_>) -> (f32, LossGradient) {
        (
            f32::INFINITY,
            LossGradient {
                q_prev: vec![0.0; x.batch * x.actions],
                q_next: vec![0.0; x.batch * x.actions],
            },
        )
    }
}

#[test]
fn a_diverging_loss_is_a_zero_score_not_a_panic() {
    let config = DqnConfig {
        hidden: vec![8],
        episodes: 30,
        learning_starts: 10,
        ..DqnConfig::evolving_rl()
    };
    let run = train_dqn(
        &mut CartPole::new(CartPoleVersion::V0),
        &Exploding,
        &config,
        1,
    );
    assert!(run.diverged);
    assert_eq!(run.score, 0.0);
}

/// A loss that claims to read all four Q batches: the update before it learned
/// to skip the unread ones.
struct ReadsAll<'a>(&'a dyn TdLoss);

impl TdLoss for ReadsAll<'_> {
    fn loss(&self, x: &LossInputs<'_>) -> (f32, LossGradient) {
        self.0.loss(x)
    }
}

/// Skipping the passes a loss does not read changes nothing it computes: runs
/// are identical with and without, for losses that read different batches.
#[test]
fn skipping_unread_q_batches_changes_no_run() {
    use crate::autorl::graph::{LossGraph, Op, input::*};
    let config = DqnConfig {
        hidden: vec![16],
        episodes: 15,
        learning_starts: 50,
        ..DqnConfig::scaled()
    };
    // Q(θ, s)[a] − Q(θ_target, s_prev)[a]: the two batches DQN does not read.
    let odd = crate::autorl::graph::tests::graph(&[
        (Op::QValues, [PARAMS, STATE]),
        (Op::QValues, [TARGET_PARAMS, PREV_STATE]),
        (Op::Select, [7, ACTION]),
        (Op::Select, [8, ACTION]),
        (Op::L2Distance, [9, 10]),
    ]);
    assert_eq!(
        odd.reads(),
        QReads {
            q_prev: false,
            q_next: true,
            target_prev: true,
            target_next: false
        }
    );
    let dqn = LossGraph::dqn();
    assert_eq!(dqn.reads(), DqnLoss.reads());
    for loss in [
        &dqn as &dyn TdLoss,
        &LossGraph::dqn_clipped(),
        &odd,
        &DqnLoss,
    ] {
        let mut env = CartPole::new(CartPoleVersion::V0);
        let skipping = train_dqn(&mut env, loss, &config, 3);
        let all = train_dqn(&mut env, &ReadsAll(loss), &config, 3);
        assert_eq!(skipping, all);
    }
}
