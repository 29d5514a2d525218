use ufh_spaces::nasbench101::{Cell, TrainConfig, train_cell};
fn main() {
    let data = ufh_spaces::digits::split();
    let cells = [
        Cell::from_strings("0110000100010000", "input,conv3x3-bn-relu,conv1x1-bn-relu,output").unwrap(),
        Cell::from_strings("010001000", "input,maxpool3x3,output").unwrap(),
        Cell::from_strings("0111000010000010000100000", "input,conv3x3-bn-relu,maxpool3x3,conv1x1-bn-relu,output").unwrap().prune().unwrap(),
    ];
    for lr in [0.05f32, 0.1, 0.2, 0.4] {
        for epochs in [2u32, 8] {
            for cell in &cells {
                let r = train_cell(cell, &data, epochs, 1, TrainConfig { learning_rate: lr, ..TrainConfig::EMBEDDED });
                println!("lr {lr} epochs {epochs} V{} train {:.3} val {:.3} test {:.3} time {:.3}s params {}", cell.num_vertices(), r.metrics.end.train_accuracy, r.metrics.end.validation_accuracy, r.metrics.end.test_accuracy, r.metrics.end.training_time, r.trainable_parameters);
            }
        }
    }
}
