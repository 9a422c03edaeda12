//! Message templates: the variables a campaign message may use, checking a template
//! against them, a sample render context, and [`Templates`], every template of a campaign
//! compiled once for the planner to render per recipient.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::{DateTime, Utc};
use handlebars::template::{HelperTemplate, Parameter, Template, TemplateElement};
use handlebars::{Handlebars, Path, PathSeg};
use serde_json::{Value, json};

use super::model::{ButtonAction, Campaign, Content, Kind, Livestream, Message};
use super::suggest;
use super::tree::KeyPath;

/// The shape of a template variable.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// Printable text or number.
    Value,
    /// An object with these fields.
    Object(&'static [Var]),
    /// A list whose items have these fields (use `{{#each}}`).
    List(&'static [Var]),
}

/// One template variable (or a field of one).
#[derive(Debug, Clone, Copy)]
pub struct Var {
    pub name: &'static str,
    pub shape: Shape,
    /// One line for the documentation.
    pub doc: &'static str,
}

const fn v(name: &'static str, doc: &'static str) -> Var {
    Var {
        name,
        shape: Shape::Value,
        doc,
    }
}

const CUSTOMER: &[Var] = &[
    v(
        "first_name",
        "First name (the first word of the name when only a full name is known)",
    ),
    v("name", "Full name"),
    v("email", "E-mail address"),
    v("country", "ISO country code (`SG`, `DE`)"),
    v(
        "language",
        "The language the message is rendered in (`en`, `zh-Hans`)",
    ),
    v("orders", "Number of orders"),
    v(
        "spent",
        "Total spent, formatted in the shop currency (`$182.00`)",
    ),
    v("segment", "RFM group (`champions`, `at_risk`, …)"),
];

const ORDER_ITEM: &[Var] = &[v("name", "Product title"), v("quantity", "Quantity")];

const LAST_ORDER: &[Var] = &[
    v("name", "Order number (`#1042`)"),
    v("date", "Order date, in the recipient's time zone"),
    v("total", "Order total, formatted (`$64.00`)"),
    Var {
        name: "items",
        shape: Shape::List(ORDER_ITEM),
        doc: "The order's lines: `name`, `quantity`",
    },
];

const PRODUCT: &[Var] = &[
    v("handle", "Product handle"),
    v("title", "Title in the message's language"),
    v("price", "Price, formatted (`$28.00`)"),
    v("url", "Tracked link to the product page"),
    v("image", "Image URL"),
];

const SHOP: &[Var] = &[v("name", "Shop name"), v("url", "Shop home page")];

const CART: &[Var] = &[
    v(
        "url",
        "The shop's link back to the cart (tracked when used as a button)",
    ),
    v("total", "Cart total, formatted (`$48.00`)"),
    v("count", "Number of items in the cart"),
];

const LIVESTREAM: &[Var] = &[
    v(
        "starts_at",
        "Start time, formatted in the recipient's time zone",
    ),
    v("url", "Tracked link to the stream"),
];

/// Every variable a campaign message may use. The single source of truth for template
/// checking, [`sample_context`] and the documentation.
pub const VARIABLES: &[Var] = &[
    Var {
        name: "customer",
        shape: Shape::Object(CUSTOMER),
        doc: "The recipient",
    },
    Var {
        name: "last_order",
        shape: Shape::Object(LAST_ORDER),
        doc: "The recipient's most recent order (empty for customers who never ordered: wrap in `{{#if last_order}}`)",
    },
    Var {
        name: "products",
        shape: Shape::List(PRODUCT),
        doc: "The message's product cards (its `products:`), in order",
    },
    Var {
        name: "shop",
        shape: Shape::Object(SHOP),
        doc: "The shop",
    },
    Var {
        name: "livestream",
        shape: Shape::Object(LIVESTREAM),
        doc: "The livestream (livestream campaigns only)",
    },
    Var {
        name: "cart",
        shape: Shape::Object(CART),
        doc: "The cart left behind (`abandoned_cart` campaigns; empty otherwise)",
    },
    v(
        "unsubscribe_url",
        "Link that unsubscribes the recipient from marketing on this channel",
    ),
];

/// Block helpers a template may use.
pub const BLOCK_HELPERS: &[&str] = &["if", "unless", "each", "with"];
/// Inline helpers a template may use (handlebars built-ins).
pub const INLINE_HELPERS: &[&str] = &[
    "lookup", "eq", "ne", "gt", "gte", "lt", "lte", "and", "or", "not", "len",
];
/// `@…` variables available inside `{{#each}}`.
const LOCALS: &[&str] = &["index", "first", "last", "key"];

/// Every variable as a dotted path (`customer.first_name`, `products[].title`), for
/// documentation and suggestions.
pub fn variable_paths() -> Vec<String> {
    let mut out = Vec::new();
    flatten(VARIABLES, "", &mut out);
    out
}

fn flatten(fields: &[Var], prefix: &str, out: &mut Vec<String>) {
    for f in fields {
        let name = format!("{prefix}{}", f.name);
        match f.shape {
            Shape::Value => out.push(name),
            Shape::Object(inner) => {
                out.push(name.clone());
                flatten(inner, &format!("{name}."), out);
            }
            Shape::List(inner) => {
                out.push(name.clone());
                flatten(inner, &format!("{name}[]."), out);
            }
        }
    }
}

/// Paths usable directly (without `{{#each}}`) from a scope, for did-you-mean.
fn direct_paths(fields: &[Var], prefix: &str, out: &mut Vec<String>) {
    for f in fields {
        let name = format!("{prefix}{}", f.name);
        out.push(name.clone());
        if let Shape::Object(inner) = f.shape {
            direct_paths(inner, &format!("{name}."), out);
        }
    }
}

// ---------------------------------------------------------------- checking

/// Compiles a template, turning a panic inside the template parser on pathological input
/// into an error rather than a crash.
pub(crate) fn compile(source: &str) -> Result<Template, String> {
    match catch_unwind(AssertUnwindSafe(|| Template::compile(source))) {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => Err(describe_template_error(&e)),
        Err(_) => Err("template does not compile".to_owned()),
    }
}

fn describe_template_error(e: &handlebars::TemplateError) -> String {
    use handlebars::TemplateErrorReason as R;
    let what = match e.reason() {
        R::MismatchingClosedHelper(open, close) => {
            format!("`{{{{#{open}}}}}` is closed by `{{{{/{close}}}}}`")
        }
        R::MismatchingClosedDecorator(open, close) => {
            format!("`{{{{#*{open}}}}}` is closed by `{{{{/{close}}}}}`")
        }
        R::InvalidSyntax(_) => {
            "invalid handlebars syntax (an unclosed `{{`, `{{#if}}` or `{{#each}}`?)".to_owned()
        }
        R::InvalidParam(p) => format!("invalid parameter `{p}`"),
        other => other.to_string(),
    };
    match e.pos() {
        Some((line, col)) => {
            format!("template does not compile: {what} (template line {line}, column {col})")
        }
        None => format!("template does not compile: {what}"),
    }
}

#[derive(Debug, Clone, Copy)]
enum ScopeShape {
    Fields(&'static [Var]),
    /// Inside `{{#with (lookup …)}}`: unknown, anything goes.
    Any,
}

#[derive(Debug, Clone, Copy)]
struct Scope {
    shape: ScopeShape,
    /// Inside `{{#each}}`: `@index` and friends exist.
    item: bool,
}

/// What a path resolves to.
#[derive(Debug, Clone, Copy)]
enum Resolved {
    Shape(Shape),
    Any,
}

struct Checker {
    livestream: bool,
    problems: Vec<String>,
}

/// Checks that `source` compiles and uses only known variables and helpers. `livestream`:
/// whether `livestream.*` exists (livestream campaigns). Returns every problem found.
pub fn check_template(source: &str, livestream: bool) -> Vec<String> {
    let template = match compile(source) {
        Ok(t) => t,
        Err(e) => return vec![e],
    };
    let mut checker = Checker {
        livestream,
        problems: Vec::new(),
    };
    let mut scopes = vec![Scope {
        shape: ScopeShape::Fields(VARIABLES),
        item: false,
    }];
    checker.walk(&template, &mut scopes);
    checker.problems.dedup();
    checker.problems
}

impl Checker {
    fn walk(&mut self, template: &Template, scopes: &mut Vec<Scope>) {
        for element in &template.elements {
            match element {
                TemplateElement::Expression(ht) | TemplateElement::HtmlExpression(ht) => {
                    self.expression(ht, scopes)
                }
                TemplateElement::HelperBlock(ht) => self.block(ht, scopes),
                TemplateElement::DecoratorExpression(_)
                | TemplateElement::DecoratorBlock(_)
                | TemplateElement::PartialExpression(_)
                | TemplateElement::PartialBlock(_) => self.problems.push(
                    "partials (`{{> …}}`) and decorators (`{{* …}}`) are not supported in campaign messages"
                        .to_owned(),
                ),
                _ => {}
            }
        }
    }

    fn expression(&mut self, ht: &HelperTemplate, scopes: &[Scope]) {
        if ht.params.is_empty() && ht.hash.is_empty() {
            match &ht.name {
                Parameter::Name(n) => {
                    if INLINE_HELPERS.contains(&n.as_str()) || BLOCK_HELPERS.contains(&n.as_str()) {
                        self.problems.push(format!(
                            "helper `{n}` needs an argument, e.g. `{{{{{n} customer.orders}}}}`"
                        ));
                    } else {
                        self.path(n, scopes);
                    }
                }
                other => {
                    self.param(other, scopes);
                }
            }
            return;
        }
        match &ht.name {
            Parameter::Name(n) if INLINE_HELPERS.contains(&n.as_str()) => {}
            Parameter::Name(n) => {
                let hint = suggest::hint(n, INLINE_HELPERS.iter().copied());
                self.problems.push(format!("unknown helper `{n}`{hint}"));
            }
            _ => self.problems.push("unknown helper".to_owned()),
        }
        self.params(ht, scopes);
    }

    fn params(&mut self, ht: &HelperTemplate, scopes: &[Scope]) {
        for p in &ht.params {
            self.param(p, scopes);
        }
        for p in ht.hash.values() {
            self.param(p, scopes);
        }
    }

    fn param(&mut self, p: &Parameter, scopes: &[Scope]) -> Resolved {
        match p {
            Parameter::Name(n) => self.path(n, scopes),
            Parameter::Path(path) => {
                let raw = match path {
                    Path::Relative((_, raw)) => raw,
                    Path::Local((_, _, raw)) => raw,
                };
                self.path(raw, scopes)
            }
            Parameter::Literal(_) => Resolved::Any,
            Parameter::Subexpression(sub) => {
                if let TemplateElement::Expression(ht) = sub.as_element() {
                    self.expression(ht, scopes);
                }
                Resolved::Any
            }
            _ => Resolved::Any,
        }
    }

    fn block(&mut self, ht: &HelperTemplate, scopes: &mut Vec<Scope>) {
        let name = match &ht.name {
            Parameter::Name(n) => n.as_str(),
            _ => "",
        };
        if ht.block_param.is_some() {
            self.problems.push(format!(
                "block parameters (`{{{{#{name} … as |x|}}}}`) are not supported"
            ));
        }
        match name {
            "if" | "unless" => {
                self.params(ht, scopes);
                self.inner(ht, scopes, None);
            }
            "each" | "with" => {
                let target = ht.params.first().map(|p| self.param(p, scopes));
                let scope = match (name, target) {
                    (_, None) => {
                        self.problems.push(format!(
                            "`{{{{#{name}}}}}` needs a variable, e.g. `{{{{#{name} products}}}}`"
                        ));
                        Scope {
                            shape: ScopeShape::Any,
                            item: name == "each",
                        }
                    }
                    (_, Some(Resolved::Any)) => Scope {
                        shape: ScopeShape::Any,
                        item: name == "each",
                    },
                    ("each", Some(Resolved::Shape(Shape::List(fields)))) => Scope {
                        shape: ScopeShape::Fields(fields),
                        item: true,
                    },
                    ("with", Some(Resolved::Shape(Shape::Object(fields)))) => Scope {
                        shape: ScopeShape::Fields(fields),
                        item: false,
                    },
                    (_, Some(Resolved::Shape(_))) => {
                        let wanted = if name == "each" {
                            "a list (`products`, `last_order.items`)"
                        } else {
                            "an object (`customer`, `last_order`, `shop`)"
                        };
                        self.problems
                            .push(format!("`{{{{#{name}}}}}` needs {wanted}"));
                        Scope {
                            shape: ScopeShape::Any,
                            item: name == "each",
                        }
                    }
                };
                self.inner(ht, scopes, Some(scope));
            }
            other => {
                let hint = suggest::hint(other, BLOCK_HELPERS.iter().copied());
                self.problems.push(format!(
                    "unknown block helper `#{other}`{hint} (use `#if`, `#unless`, `#each` or `#with`)"
                ));
                self.params(ht, scopes);
                self.inner(ht, scopes, None);
            }
        }
    }

    fn inner(&mut self, ht: &HelperTemplate, scopes: &mut Vec<Scope>, push: Option<Scope>) {
        if let Some(t) = &ht.template {
            let pushed = push.is_some();
            if let Some(s) = push {
                scopes.push(s);
            }
            self.walk(t, scopes);
            if pushed {
                scopes.pop();
            }
        }
        if let Some(t) = &ht.inverse {
            self.walk(t, scopes);
        }
    }

    /// Resolves a variable path as written (`customer.first_name`, `this.title`, `@index`,
    /// `../shop.url`, `@root.customer.name`) against the scopes.
    fn path(&mut self, raw: &str, scopes: &[Scope]) -> Resolved {
        match resolve(raw, scopes, self.livestream) {
            Ok(r) => r,
            Err(problem) => {
                self.problems.push(problem);
                Resolved::Any
            }
        }
    }
}

fn resolve(raw: &str, scopes: &[Scope], livestream: bool) -> Result<Resolved, String> {
    let raw_trim = raw.trim();
    let mut s = raw_trim;
    let mut depth = scopes.len().saturating_sub(1);
    if let Some(rest) = s.strip_prefix("@root") {
        depth = 0;
        s = rest.trim_start_matches(['.', '/']);
    } else if s.starts_with('@') || s.contains("/@") {
        let name = s.rsplit('@').next().unwrap_or_default();
        let inside_each = scopes.iter().any(|sc| sc.item);
        return if !LOCALS.contains(&name) {
            Err(format!(
                "unknown template variable `{raw_trim}` (inside `{{{{#each}}}}` use `@index`, `@first`, `@last`)"
            ))
        } else if !inside_each {
            Err(format!(
                "`{raw_trim}` is only available inside `{{{{#each}}}}`"
            ))
        } else {
            Ok(Resolved::Shape(Shape::Value))
        };
    }
    while let Some(rest) = s.strip_prefix("../") {
        if depth == 0 {
            return Err(format!("`{raw_trim}` goes above the top level"));
        }
        depth -= 1;
        s = rest;
    }
    let prefix_len = raw_trim.len() - s.len();
    let s_rel = s
        .strip_prefix("this.")
        .or_else(|| s.strip_prefix("this/"))
        .or_else(|| s.strip_prefix("./"))
        .unwrap_or(s);
    let prefix = &raw_trim[..prefix_len + (s.len() - s_rel.len())];
    let scope = scopes.get(depth).copied().unwrap_or(Scope {
        shape: ScopeShape::Any,
        item: false,
    });
    let fields = match scope.shape {
        ScopeShape::Any => return Ok(Resolved::Any),
        ScopeShape::Fields(f) => f,
    };
    if matches!(s_rel, "this" | "." | "") {
        return if depth == 0 {
            Err(format!(
                "`{raw_trim}` is the whole context; name a variable such as `customer.first_name`"
            ))
        } else {
            Ok(Resolved::Shape(Shape::Object(fields)))
        };
    }
    let segments: Vec<&str> = s_rel
        .split(['.', '/'])
        .map(|seg| seg.trim_start_matches('[').trim_end_matches(']'))
        .collect();
    if depth == 0 && !livestream && segments.first() == Some(&"livestream") {
        return Err(format!(
            "`{raw_trim}` is only available in livestream campaigns"
        ));
    }
    let mut shape = Shape::Object(fields);
    let mut walked = String::new();
    for seg in segments {
        let next = match shape {
            Shape::Object(fields) => fields.iter().find(|f| f.name == seg).map(|f| f.shape),
            Shape::List(fields) if seg.parse::<usize>().is_ok() => Some(Shape::Object(fields)),
            Shape::List(_) => {
                return Err(format!(
                    "`{prefix}{walked}` is a list: use `{{{{#each {prefix}{walked}}}}}…{{{{/each}}}}` to show its items"
                ));
            }
            Shape::Value => {
                return Err(format!("`{prefix}{walked}` has no field `{seg}`"));
            }
        };
        match next {
            Some(n) => {
                shape = n;
                if !walked.is_empty() {
                    walked.push('.');
                }
                walked.push_str(seg);
            }
            None => {
                let mut candidates = Vec::new();
                direct_paths(fields, "", &mut candidates);
                let hint = match suggest::did_you_mean(s_rel, candidates.iter().map(String::as_str))
                {
                    Some(c) => format!("; did you mean `{prefix}{c}`?"),
                    None => String::new(),
                };
                return Err(format!("unknown template variable `{raw_trim}`{hint}"));
            }
        }
    }
    Ok(Resolved::Shape(shape))
}

// ---------------------------------------------------------------- sample context

/// A render context with every variable filled in for a made-up customer: what
/// `kefu campaign validate` renders each message with, and the shape the planner builds
/// per recipient. `products` are the message's product handles.
pub fn sample_context(livestream: Option<&Livestream>, products: &[String]) -> Value {
    let products: Vec<Value> = products
        .iter()
        .map(|handle| {
            json!({
                "handle": handle,
                "title": title_from_handle(handle),
                "price": "$28.00",
                "url": format!("https://lotusandpine.example/products/{handle}"),
                "image": format!("https://lotusandpine.example/images/{handle}.jpg"),
            })
        })
        .collect();
    let mut ctx = json!({
        "customer": {
            "first_name": "Mei",
            "name": "Mei Lin",
            "email": "mei.lin@example.com",
            "country": "SG",
            "language": "en",
            "orders": 3,
            "spent": "$182.00",
            "segment": "loyal",
        },
        "last_order": {
            "name": "#1042",
            "date": "2026-03-02",
            "total": "$64.00",
            "items": [
                { "name": "Dragon Well Green Tea", "quantity": 2 },
                { "name": "Celadon Gaiwan", "quantity": 1 },
            ],
        },
        "products": products,
        "shop": { "name": "Lotus & Pine", "url": "https://lotusandpine.example" },
        "cart": { "url": "https://lotusandpine.example/cart/c-1001", "total": "$48.00", "count": 3 },
        "unsubscribe_url": "https://lotusandpine.example/u/sample",
    });
    if let (Some(ls), Some(obj)) = (livestream, ctx.as_object_mut()) {
        obj.insert(
            "livestream".to_owned(),
            json!({ "starts_at": format_start(ls.starts_at), "url": ls.url }),
        );
    }
    ctx
}

fn format_start(at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&chrono_tz::Asia::Singapore);
    local
        .format("%a %-d %b, %H:%M (Asia/Singapore)")
        .to_string()
}

fn title_from_handle(handle: &str) -> String {
    handle
        .split('-')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(first) => first.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------- languages

/// The primary subtag of a language tag: `zh` for `zh-Hans`, `pt` for `pt_BR`.
pub fn primary_subtag(tag: &str) -> &str {
    tag.split(['-', '_']).next().unwrap_or(tag)
}

fn same_tag(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.chars().zip(b.chars()).all(|(x, y)| {
            x.eq_ignore_ascii_case(&y) || (matches!(x, '-' | '_') && matches!(y, '-' | '_'))
        })
}

/// Which of the `available` languages to send to a recipient who reads `wanted`: the
/// exact tag (`pt-BR`), else its primary subtag (`pt`), else any tag with the same primary
/// subtag (`zh` → `zh-Hans`, the first in order), else `fallback`. Case-insensitive; `_`
/// and `-` are the same.
pub fn pick_language<'a, I>(available: I, wanted: &str, fallback: &'a str) -> &'a str
where
    I: IntoIterator<Item = &'a str>,
{
    let available: Vec<&'a str> = available.into_iter().collect();
    let wanted = wanted.trim();
    if wanted.is_empty() {
        return fallback;
    }
    let primary = primary_subtag(wanted);
    available
        .iter()
        .find(|a| same_tag(a, wanted))
        .or_else(|| available.iter().find(|a| same_tag(a, primary)))
        .or_else(|| {
            available
                .iter()
                .find(|a| same_tag(primary_subtag(a), primary))
        })
        .copied()
        .unwrap_or(fallback)
}

// ---------------------------------------------------------------- compiled templates

/// Which message of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// The campaign's `content` (the announcement, for livestreams).
    Main,
    /// `livestream.reminder`, sent at each of `livestream.reminders`.
    Reminder,
    /// `livestream.live`, sent at the start.
    Live,
}

impl Step {
    pub fn as_str(&self) -> &'static str {
        match self {
            Step::Main => "main",
            Step::Reminder => "reminder",
            Step::Live => "live",
        }
    }
}

/// Where a button leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ButtonTarget {
    /// A link (the channel makes it a tracked link).
    Url(String),
    Action(ButtonAction),
}

/// One message rendered for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMessage {
    /// The language picked (see [`pick_language`]).
    pub language: String,
    pub subject: Option<String>,
    pub text: String,
    pub image: Option<String>,
    pub buttons: Vec<(String, ButtonTarget)>,
    /// Product handles for the product cards.
    pub products: Vec<String>,
}

/// Rendering failed (a variable missing from the context, in strict mode).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RenderFailure {
    /// The template's place in the file, e.g. `content.languages.en.text`.
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone)]
enum CompiledButton {
    Url {
        label: Compiled,
        url: Compiled,
    },
    Action {
        label: Compiled,
        action: ButtonAction,
    },
}

/// One template field: its registry key, and its pieces when it is plain text with
/// variables only (no helpers, blocks, partials or comments), which renders without
/// handlebars.
#[derive(Debug, Clone)]
struct Compiled {
    name: String,
    pieces: Option<Vec<Piece>>,
}

/// A part of a plain template.
#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    /// `{{a.b}}`: a variable by its path from the top of the context.
    Var(Vec<String>),
}

/// Handlebars' built-in helpers (and more): an expression naming one calls the helper.
const HELPER_NAMES: &[&str] = &[
    "if",
    "unless",
    "each",
    "with",
    "lookup",
    "raw",
    "log",
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "and",
    "or",
    "not",
    "len",
    "blockHelperMissing",
    "helperMissing",
];

/// The pieces of a template made of text and plain variables only, as handlebars renders
/// them at the top level: a path of named segments resolved from the root, printed
/// without escaping. `None` for anything else.
fn pieces_of(template: &Template) -> Option<Vec<Piece>> {
    let mut out = Vec::new();
    for element in &template.elements {
        match element {
            TemplateElement::RawString(s) => out.push(Piece::Text(s.clone())),
            TemplateElement::Expression(ht) | TemplateElement::HtmlExpression(ht) => {
                if ht.block
                    || !ht.params.is_empty()
                    || !ht.hash.is_empty()
                    || ht.block_param.is_some()
                    || ht.template.is_some()
                    || ht.inverse.is_some()
                {
                    return None;
                }
                let Parameter::Path(Path::Relative((segs, raw))) = &ht.name else {
                    return None;
                };
                if segs.is_empty() || HELPER_NAMES.contains(&raw.as_str()) {
                    return None;
                }
                let mut path = Vec::with_capacity(segs.len());
                for seg in segs {
                    match seg {
                        PathSeg::Named(n) => path.push(n.clone()),
                        _ => return None,
                    }
                }
                out.push(Piece::Var(path));
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Template names (registry keys) of one message's fields.
#[derive(Debug, Clone)]
struct CompiledMessage {
    subject: Option<Compiled>,
    text: Compiled,
    image: Option<Compiled>,
    buttons: Vec<CompiledButton>,
    products: Vec<String>,
}

/// The variables of one recipient, for rendering without building the whole context.
pub trait Vars {
    /// Appends what `{{path}}` prints (a path from the top of the context, by segment),
    /// exactly as handlebars prints that value of [`Vars::context`]; `false` (with
    /// `out` as it may be) when the value is not a plain one (missing, an object or a
    /// list) or the path is unknown here: the template is then rendered by handlebars
    /// with the full context.
    fn write(&self, path: &[String], out: &mut String) -> bool;
    /// The full render context.
    fn context(&self) -> Value;
}

#[derive(Debug, Clone)]
struct CompiledContent {
    fallback: String,
    languages: BTreeMap<String, CompiledMessage>,
}

/// One content block of a campaign and where it sits in the file.
pub(crate) struct ContentSite<'a> {
    pub step: Step,
    /// The variant whose own `content` this is; `None` for the campaign's.
    pub variant: Option<&'a str>,
    pub path: KeyPath,
    pub content: &'a Content,
}

/// Every content block of a campaign, in file order.
pub(crate) fn content_sites(campaign: &Campaign) -> Vec<ContentSite<'_>> {
    let root = KeyPath::root();
    let mut out = vec![ContentSite {
        step: Step::Main,
        variant: None,
        path: root.k("content"),
        content: &campaign.content,
    }];
    for (i, variant) in campaign.variants.iter().enumerate() {
        if let Some(content) = &variant.content {
            out.push(ContentSite {
                step: Step::Main,
                variant: Some(&variant.id),
                path: root.k("variants").i(i).k("content"),
                content,
            });
        }
    }
    if let Some(ls) = &campaign.livestream {
        out.push(ContentSite {
            step: Step::Reminder,
            variant: None,
            path: root.k("livestream").k("reminder"),
            content: &ls.reminder,
        });
        out.push(ContentSite {
            step: Step::Live,
            variant: None,
            path: root.k("livestream").k("live"),
            content: &ls.live,
        });
    }
    out
}

/// One template field of a message and its place in the file.
pub(crate) struct Field<'a> {
    pub path: KeyPath,
    pub source: &'a str,
}

/// The templated fields of a message: subject, text, image, button labels and urls.
pub(crate) fn message_fields<'a>(path: &KeyPath, m: &'a Message) -> Vec<Field<'a>> {
    let mut out = Vec::new();
    if let Some(s) = &m.subject {
        out.push(Field {
            path: path.k("subject"),
            source: s,
        });
    }
    out.push(Field {
        path: path.k("text"),
        source: &m.text,
    });
    if let Some(s) = &m.image {
        out.push(Field {
            path: path.k("image"),
            source: s,
        });
    }
    for (i, b) in m.buttons.iter().enumerate() {
        let bp = path.k("buttons").i(i);
        out.push(Field {
            path: bp.k("label"),
            source: &b.label,
        });
        if let Some(u) = &b.url {
            out.push(Field {
                path: bp.k("url"),
                source: u,
            });
        }
    }
    out
}

/// Every template of a campaign, compiled once: per step, variant and language. Strict
/// (a missing variable is an error, never an empty string) and without HTML escaping:
/// escaping for e-mail HTML is the channel's job, and chat channels send plain text.
#[derive(Debug)]
pub struct Templates {
    registry: Handlebars<'static>,
    contents: BTreeMap<(Step, Option<String>), CompiledContent>,
}

/// A template that does not compile, with its place in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct CompileFailure {
    pub field: String,
    pub message: String,
}

impl Templates {
    /// Compiles every template of `campaign`. A validated campaign always compiles.
    pub fn new(campaign: &Campaign) -> Result<Self, Vec<CompileFailure>> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(handlebars::no_escape);
        let mut failures = Vec::new();
        let mut contents = BTreeMap::new();
        for site in content_sites(campaign) {
            let mut languages = BTreeMap::new();
            let mut buttonless = Vec::new();
            for (lang, message) in &site.content.languages {
                let mpath = site.path.k("languages").k(lang);
                let mut register = |path: KeyPath, source: &str| -> Compiled {
                    let name = path.to_string();
                    let mut pieces = None;
                    match compile(source) {
                        Ok(t) => {
                            pieces = pieces_of(&t);
                            registry.register_template(&name, t)
                        }
                        Err(message) => failures.push(CompileFailure {
                            field: name.clone(),
                            message,
                        }),
                    }
                    Compiled { name, pieces }
                };
                let subject = message
                    .subject
                    .as_deref()
                    .map(|s| register(mpath.k("subject"), s));
                let text = register(mpath.k("text"), &message.text);
                let image = message
                    .image
                    .as_deref()
                    .map(|s| register(mpath.k("image"), s));
                let mut buttons = Vec::new();
                for (i, b) in message.buttons.iter().enumerate() {
                    let bp = mpath.k("buttons").i(i);
                    let label = register(bp.k("label"), &b.label);
                    match (&b.url, b.action) {
                        (Some(url), _) => buttons.push(CompiledButton::Url {
                            label,
                            url: register(bp.k("url"), url),
                        }),
                        (None, Some(action)) => {
                            buttons.push(CompiledButton::Action { label, action })
                        }
                        (None, None) => buttonless.push(CompileFailure {
                            field: bp.to_string(),
                            message: "a button needs `url` or `action`".to_owned(),
                        }),
                    }
                }
                languages.insert(
                    lang.clone(),
                    CompiledMessage {
                        subject,
                        text,
                        image,
                        buttons,
                        products: message.products.clone(),
                    },
                );
            }
            failures.extend(buttonless);
            contents.insert(
                (site.step, site.variant.map(str::to_owned)),
                CompiledContent {
                    fallback: site.content.fallback_language.clone(),
                    languages,
                },
            );
        }
        if failures.is_empty() {
            Ok(Self { registry, contents })
        } else {
            Err(failures)
        }
    }

    /// The languages a step (and variant) has templates for.
    pub fn languages(&self, step: Step, variant: Option<&str>) -> Vec<&str> {
        self.content(step, variant)
            .map(|c| c.languages.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    fn content(&self, step: Step, variant: Option<&str>) -> Option<&CompiledContent> {
        let own = match (step, variant) {
            (Step::Main, Some(v)) => self.contents.get(&(Step::Main, Some(v.to_owned()))),
            _ => None,
        };
        own.or_else(|| self.contents.get(&(step, None)))
    }

    /// Renders `step` for a recipient reading `language`, with `variant`'s own content
    /// when it has some (only [`Step::Main`] varies by variant).
    pub fn render(
        &self,
        step: Step,
        variant: Option<&str>,
        language: &str,
        context: &Value,
    ) -> Result<RenderedMessage, RenderFailure> {
        let message = self.message(step, variant, language)?;
        let render = |c: &Compiled| self.render_one(&c.name, context);
        message.render_by(render)
    }

    /// The message `step` sends to a recipient reading `language` (see [`Templates::render`]),
    /// to render for many recipients.
    pub fn message(
        &self,
        step: Step,
        variant: Option<&str>,
        language: &str,
    ) -> Result<MessageTemplates<'_>, RenderFailure> {
        let content = self.content(step, variant).ok_or_else(|| RenderFailure {
            field: step.as_str().to_owned(),
            message: format!("the campaign has no `{}` message", step.as_str()),
        })?;
        let picked = pick_language(
            content.languages.keys().map(String::as_str),
            language,
            &content.fallback,
        );
        let message = content
            .languages
            .get(picked)
            .or_else(|| content.languages.values().next())
            .ok_or_else(|| RenderFailure {
                field: step.as_str().to_owned(),
                message: "no languages".to_owned(),
            })?;
        Ok(MessageTemplates {
            templates: self,
            message,
            language: picked,
        })
    }

    fn render_one(&self, name: &str, context: &Value) -> Result<String, RenderFailure> {
        self.registry
            .render(name, context)
            .map_err(|e| RenderFailure {
                field: name.to_owned(),
                message: describe_render_error(&e),
            })
    }
}

/// The templates of one message, in the language picked for the recipients it is for.
#[derive(Debug, Clone, Copy)]
pub struct MessageTemplates<'t> {
    templates: &'t Templates,
    message: &'t CompiledMessage,
    language: &'t str,
}

impl MessageTemplates<'_> {
    /// The language picked (see [`pick_language`]).
    pub fn language(&self) -> &str {
        self.language
    }

    /// Product handles for the product cards.
    pub fn products(&self) -> &[String] {
        &self.message.products
    }

    /// Renders the message for one recipient: plain templates straight from `vars`,
    /// others by handlebars with [`Vars::context`] (built once, when first needed).
    /// The same text as [`Templates::render`] with that context.
    pub fn render(&self, vars: &dyn Vars) -> Result<RenderedMessage, RenderFailure> {
        let mut context: Option<Value> = None;
        let render = |c: &Compiled| -> Result<String, RenderFailure> {
            if let Some(pieces) = &c.pieces {
                let mut out = String::new();
                let plain = pieces.iter().all(|p| match p {
                    Piece::Text(t) => {
                        out.push_str(t);
                        true
                    }
                    Piece::Var(path) => vars.write(path, &mut out),
                });
                if plain {
                    return Ok(out);
                }
            }
            let context = context.get_or_insert_with(|| vars.context());
            self.templates.render_one(&c.name, context)
        };
        self.render_by(render)
    }

    fn render_by(
        &self,
        mut render: impl FnMut(&Compiled) -> Result<String, RenderFailure>,
    ) -> Result<RenderedMessage, RenderFailure> {
        let message = self.message;
        let mut buttons = Vec::with_capacity(message.buttons.len());
        for b in &message.buttons {
            buttons.push(match b {
                CompiledButton::Url { label, url } => {
                    (render(label)?, ButtonTarget::Url(render(url)?))
                }
                CompiledButton::Action { label, action } => {
                    (render(label)?, ButtonTarget::Action(*action))
                }
            });
        }
        Ok(RenderedMessage {
            language: self.language.to_owned(),
            subject: message.subject.as_ref().map(&mut render).transpose()?,
            text: render(&message.text)?,
            image: message.image.as_ref().map(&mut render).transpose()?,
            buttons,
            products: message.products.clone(),
        })
    }
}

fn describe_render_error(e: &handlebars::RenderError) -> String {
    use handlebars::RenderErrorReason as R;
    match e.reason() {
        R::MissingVariable(Some(path)) => format!("`{path}` is missing from the render context"),
        R::MissingVariable(None) => "a variable is missing from the render context".to_owned(),
        other => other.to_string(),
    }
}

/// Whether a campaign of this kind has `livestream.*` variables.
pub(crate) fn has_livestream(kind: Kind) -> bool {
    kind == Kind::Livestream
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(s: &str) -> Vec<String> {
        check_template(s, false)
    }

    #[test]
    fn known_variables_pass() {
        assert!(
            problems("Hi {{customer.first_name}}, {{shop.name}} {{unsubscribe_url}}").is_empty()
        );
        assert!(
            problems(
                "{{#each products}}{{@index}} {{title}} {{this.price}} {{../shop.url}}{{/each}}"
            )
            .is_empty()
        );
        assert!(problems("{{#if last_order}}{{#each last_order.items}}{{name}}×{{quantity}}{{/each}}{{else}}x{{/if}}").is_empty());
        assert!(
            problems("{{#with customer}}{{first_name}}{{/with}} {{@root.shop.name}}").is_empty()
        );
        assert!(
            problems("{{#if (gt customer.orders 2)}}vip{{/if}} {{lookup products 0}}").is_empty()
        );
    }

    #[test]
    fn misspelt_variable_gets_a_suggestion() {
        let p = problems("Hi {{customer.frist_name}}");
        assert_eq!(
            p,
            vec![
                "unknown template variable `customer.frist_name`; did you mean `customer.first_name`?"
            ]
        );
        let p = problems("{{#each products}}{{tilte}}{{/each}}");
        assert_eq!(
            p,
            vec!["unknown template variable `tilte`; did you mean `title`?"]
        );
    }

    #[test]
    fn misuse_is_reported() {
        assert!(problems("{{products.title}}")[0].contains("is a list"));
        assert!(problems("{{@index}}")[0].contains("only available inside"));
        assert!(problems("{{livestream.url}}")[0].contains("only available in livestream"));
        assert!(check_template("{{livestream.url}}", true).is_empty());
        assert!(problems("{{#each customer}}x{{/each}}")[0].contains("needs a list"));
        assert!(problems("{{#iff customer.orders}}x{{/iff}}")[0].contains("did you mean `if`?"));
        assert!(problems("{{> footer}}")[0].contains("partials"));
        assert!(
            problems("{{#if customer.orders}}never closed")[0]
                .starts_with("template does not compile")
        );
    }

    #[test]
    fn language_fallback_order() {
        let avail = ["en", "pt", "zh-Hans", "zh-Hant"];
        let pick = |w| pick_language(avail.iter().copied(), w, "en");
        assert_eq!(pick("pt-BR"), "pt");
        assert_eq!(pick("zh-hans"), "zh-Hans");
        assert_eq!(pick("zh_Hant"), "zh-Hant");
        assert_eq!(pick("zh"), "zh-Hans");
        assert_eq!(pick("de"), "en");
        assert_eq!(pick(""), "en");
    }
}
