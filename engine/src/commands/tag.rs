//! `cairn tag` (being written).
