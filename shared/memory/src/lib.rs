//! In-memory adapters of the domain's ports, for fast tests of the functions' rules.

pub mod clock;

pub use clock::FixedClock;
