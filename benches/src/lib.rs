//! Stage benchmarks live in `benches/`.
