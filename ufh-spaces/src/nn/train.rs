//! What the NAS setups' trainings share: a training's settings and the metrics one
//! training run records. NAS-Bench-101's cell networks and the proxy zoo's networks
//! both train under a [`TrainConfig`]; tables store [`RepeatMetrics`].

/// Settings of the scaled network and its training.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Channels `C` of the stem and the first cell (the second has `2C`).
    pub channels: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Peak learning rate, decayed to 0 by a cosine over the budget.
    pub learning_rate: f32,
    /// SGD momentum.
    pub momentum: f32,
    /// L2 weight decay on conv and dense weights.
    pub weight_decay: f32,
    /// Side of the images the network sees: 8 (the digits as they are) or 4 (each
    /// 2×2 block of pixels averaged, the summands added in row-major order), which
    /// makes every layer four times cheaper and the task harder.
    #[serde(default = "eight", skip_serializing_if = "is_eight")]
    pub input_side: usize,
}

fn eight() -> usize {
    8
}

#[allow(clippy::trivially_copy_pass_by_ref)] // reason: serde's skip_serializing_if passes a reference
fn is_eight(side: &usize) -> bool {
    *side == 8
}

impl TrainConfig {
    /// The settings of ufh's embedded benchmark.
    pub const EMBEDDED: TrainConfig = TrainConfig {
        channels: 8,
        batch_size: 50,
        learning_rate: 0.2,
        momentum: 0.9,
        weight_decay: 1e-4,
        input_side: 8,
    };
}

/// Accuracies and training time at one point of one training run.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochMetrics {
    /// Training time up to this point, in seconds (evaluation excluded).
    pub training_time: f64,
    /// Accuracy on the training set.
    pub train_accuracy: f64,
    /// Accuracy on the validation set.
    pub validation_accuracy: f64,
    /// Accuracy on the test set.
    pub test_accuracy: f64,
}

/// One training run (one repeat at one epoch budget): its halfway point and its end.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RepeatMetrics {
    /// Metrics after half the epochs.
    pub halfway: EpochMetrics,
    /// Metrics at the end of the budget.
    pub end: EpochMetrics,
}
