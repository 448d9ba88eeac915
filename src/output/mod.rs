//! A job's output: the spool with its cursors ([`store`]), the text an agent sees ([`text`]),
//! the bounded reads built on them ([`view`]) and the search ([`search`]).

pub mod search;
pub mod store;
pub mod text;
pub mod view;

pub use store::{Extent, OutputStore, Select};
