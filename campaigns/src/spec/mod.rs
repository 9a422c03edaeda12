//! Campaign files: the format ([`model`]), parsing with positions ([`parse()`]), semantic
//! validation ([`validate()`]) and message templates ([`Templates`]).

mod diag;
pub mod model;
mod parse;
mod suggest;
pub mod templates;
mod tree;
mod validate;

pub use diag::Diagnostic;
pub use model::*;
pub use parse::parse;
pub use suggest::{did_you_mean, edit_distance};
pub use templates::{
    ButtonTarget, CompileFailure, RenderFailure, RenderedMessage, Shape, Step, Templates,
    VARIABLES, Var, check_template, pick_language, primary_subtag, sample_context, variable_paths,
};
pub use validate::{
    Known, RFM_GROUPS, is_language_tag, is_valid_id, json_schema, parse_hhmm, validate,
};
