//! `cairn restore` (being written).
