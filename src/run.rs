//! `run()`: inputs -> plan -> rollout -> diagnosis -> report, top to bottom.
