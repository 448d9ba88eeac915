//! A job's output: the store with its cursors ([`store`]), made of the spool file with its cap
//! ([`spool`]), the in-memory tail ([`ring`]), the stream of each byte ([`runs`]) and line
//! numbers ([`lines`]); reads by position ([`fetch`]) and the gap-aware walk every reader shares
//! ([`reader`]); the text an agent sees ([`text`]), the bounded reads built on them ([`view`])
//! and the search ([`search`]).

pub mod fetch;
mod lines;
pub mod reader;
mod ring;
pub mod runs;
pub mod search;
mod spool;
pub mod store;
pub mod text;
pub mod view;

pub use fetch::Piece;
pub use lines::LineAt;
pub use reader::{Segment, Segments, read_after_gaps};
pub use runs::{Select, Tag};
pub use store::{Extent, OutputStore};
