//! The repository format version.

/// The format version this build reads and writes. Bumped by any change that an older reader would
/// misread; spec/ says what each version means.
pub const FORMAT_VERSION: u32 = 1;
