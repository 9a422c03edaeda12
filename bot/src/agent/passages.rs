//! What to quote from an article: the section that answers the question, never the page's
//! furniture.
//!
//! Search finds the right article; the chunk it returns may still open with the page's
//! introduction, a "Last updated" line or a table of contents, while the fact sits in a
//! later section. So the answer is taken from the article as a whole: it is split into
//! sections at its headings, lines that are page furniture are dropped ([`is_furniture`]),
//! and the section whose heading and text share the most of the question's rarer words
//! (weighted by how few of the article's sections use them) is quoted, narrowed to its
//! best paragraphs or table rows when it is long. A question that shares no word with the
//! article (written in another language than the article) gets the retrieved chunk,
//! cleaned the same way.

use kefu_knowledge::concepts::{fold_char as fold, is_cjk};

/// One section of an article: its heading (empty before the first one) and its blocks
/// (paragraphs, list items, readable table rows).
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub heading: String,
    pub blocks: Vec<String>,
}

impl Section {
    pub fn text(&self) -> String {
        let body = self.blocks.join("\n");
        if self.heading.is_empty() {
            body
        } else {
            format!("{}\n{body}", self.heading)
        }
    }
}

/// Headings under which a page lists its own sections.
const CONTENTS_HEADINGS: &[&str] = &[
    "contents",
    "table of contents",
    "on this page",
    "in this article",
    "inhalt",
    "inhaltsverzeichnis",
    "auf dieser seite",
    "contenido",
    "índice",
    "en esta página",
    "sommaire",
    "table des matières",
    "sur cette page",
    "conteúdo",
    "índice",
    "nesta página",
    "目录",
    "目錄",
    "本页内容",
    "目次",
    "このページの内容",
];

/// Words that open a "last updated" line, in the supported languages.
const UPDATED_WORDS: &[&str] = &[
    "last updated",
    "last modified",
    "updated on",
    "updated:",
    "effective date",
    "effective from",
    "zuletzt aktualisiert",
    "aktualisiert am",
    "stand:",
    "última actualización",
    "actualizado el",
    "dernière mise à jour",
    "mis à jour le",
    "última atualização",
    "atualizado em",
    "最后更新",
    "更新时间",
    "最後更新",
    "更新時間",
    "最終更新",
    "更新日",
];

/// "Back to top" links written as plain text.
const BACK_TO_TOP: &[&str] = &[
    "back to top",
    "top of page",
    "nach oben",
    "zurück nach oben",
    "volver arriba",
    "ir arriba",
    "retour en haut",
    "haut de page",
    "voltar ao topo",
    "返回顶部",
    "回到顶部",
    "返回頂部",
    "回到頂部",
    "トップへ戻る",
    "ページの先頭へ",
];

/// Whether a line is page furniture rather than content: a "Last updated …" line, a
/// breadcrumb trail, a "Back to top" link, a link to a section of the same page, or a
/// list item that only repeats one of the page's own headings (a table of contents).
pub fn is_furniture(line: &str, headings: &[String]) -> bool {
    let text = line.trim();
    if text.is_empty() {
        return false;
    }
    let item = text
        .trim_start_matches(['-', '*', '+', '•'])
        .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == ')')
        .trim();
    let plain = strip_links(item);
    let lower = plain
        .trim()
        .trim_matches(['*', '_', '[', ']'])
        .to_lowercase();
    let short = lower.chars().count() <= 80;
    // Links into the page itself: "[Is shipping free?](#is-shipping-free)", "[↑ Top](#top)".
    if item.contains("](#") && plain.trim().chars().count() <= 80 {
        return true;
    }
    if short
        && UPDATED_WORDS.iter().any(|w| {
            lower.starts_with(w) || lower.trim_start_matches(['(', '_', '*']).starts_with(w)
        })
    {
        return true;
    }
    if short
        && BACK_TO_TOP
            .iter()
            .any(|w| lower.trim_matches(['↑', '^', ' ']) == *w)
    {
        return true;
    }
    // A list item that is nothing but one of the page's own headings (a contents list:
    // "1. Returns" for the heading "## 1. Returns").
    let unnumbered = |h: &str| {
        h.trim()
            .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == ')')
            .trim()
            .to_lowercase()
    };
    if item.len() < text.len()
        && headings.iter().any(|h| {
            let own = lower.trim_end_matches(['.', ':']);
            h.trim().to_lowercase() == own || unnumbered(h) == own
        })
    {
        return true;
    }
    // A contents list on one line: "On this page: Cancelling · Changing the address ·
    // Changing items", a contents label followed by a list, or a line that is nothing
    // but three or more of the page's own headings.
    let entries: Vec<&str> = lower
        .split(['·', '|', '•', ';'])
        .map(|e| e.trim().trim_end_matches(['.', ':']))
        .filter(|e| !e.is_empty())
        .collect();
    if entries.len() >= 3 {
        let labelled = CONTENTS_HEADINGS
            .iter()
            .any(|h| lower.starts_with(h) && lower[h.len()..].trim_start().starts_with(':'));
        let own = |e: &str| {
            let e = e.rsplit(':').next().unwrap_or(e).trim();
            headings
                .iter()
                .any(|h| h.trim().to_lowercase() == e || unnumbered(h) == e)
        };
        if labelled || entries.iter().all(|e| own(e)) {
            return true;
        }
    }
    // A contents list's own label set in bold ("**Contents**").
    if text.starts_with(['*', '_'])
        && CONTENTS_HEADINGS
            .iter()
            .any(|h| lower.trim_end_matches(':') == *h)
    {
        return true;
    }
    is_breadcrumb(&plain)
}

/// "Home › Help › Returns", "Home > FAQ > Shipping", "Home / Help centre / Returns".
fn is_breadcrumb(line: &str) -> bool {
    let text = line.trim();
    if text.chars().count() > 100 || text.ends_with(['.', '?', '!', '。', '？', '！']) {
        return false;
    }
    for sep in ['›', '»', '>', '/', '〉', '＞'] {
        let parts: Vec<&str> = text.split(sep).map(str::trim).collect();
        if parts.len() >= 3
            && parts.iter().all(|p| {
                !p.is_empty() && p.chars().count() <= 30 && p.split_whitespace().count() <= 4
            })
        {
            return true;
        }
    }
    false
}

/// Markdown links reduced to their text.
fn strip_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find("](").map(|i| open + i) else {
            break;
        };
        let Some(end) = rest[close..].find(')').map(|i| close + i) else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&rest[open + 1..close]);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The Markdown headings of an article, in order.
pub fn headings(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(heading_of)
        .map(str::to_owned)
        .collect()
}

fn heading_of(line: &str) -> Option<&str> {
    let trimmed = line.trim_start();
    let level = trimmed.bytes().take_while(|&b| b == b'#').count();
    if !(1..=6).contains(&level) || !trimmed[level..].starts_with(' ') {
        return None;
    }
    let text = trimmed[level..].trim().trim_end_matches('#').trim();
    (!text.is_empty()).then_some(text)
}

fn is_table_row(line: &str) -> bool {
    let t = line.trim();
    t.starts_with('|') && t.ends_with('|') && t.len() > 1
}

fn table_cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().replace("**", ""))
        .collect()
}

fn is_table_rule(line: &str) -> bool {
    is_table_row(line)
        && line
            .trim()
            .chars()
            .all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

/// A table as readable lines: one per row, each cell after its column's header
/// ("Condition: Sealed · Return window: 30 days"); a two-column table reads
/// "Sealed: 30 days".
fn table_lines(rows: &[&str]) -> Vec<String> {
    let has_header = rows.get(1).is_some_and(|r| is_table_rule(r));
    let header = if has_header {
        table_cells(rows[0])
    } else {
        Vec::new()
    };
    let body = rows
        .iter()
        .skip(if has_header { 2 } else { 0 })
        .filter(|r| !is_table_rule(r));
    body.map(|row| {
        let cells = table_cells(row);
        if cells.len() == 2 {
            return format!("• {}: {}", cells[0], cells[1]);
        }
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.is_empty())
            .map(|(i, c)| match header.get(i).filter(|h| !h.is_empty()) {
                Some(h) => format!("{h}: {c}"),
                None => c.clone(),
            })
            .collect();
        format!("• {}", parts.join(" · "))
    })
    .collect()
}

/// The article's sections, furniture left out. Sections under a contents heading are
/// dropped whole.
pub fn sections(body: &str) -> Vec<Section> {
    let headings: Vec<String> = body
        .lines()
        .filter_map(heading_of)
        .map(str::to_owned)
        .collect();
    let mut out = vec![Section {
        heading: String::new(),
        blocks: Vec::new(),
    }];
    let mut paragraph: Vec<String> = Vec::new();
    let mut table: Vec<&str> = Vec::new();
    let mut in_fence = false;
    let flush = |paragraph: &mut Vec<String>, table: &mut Vec<&str>, out: &mut Vec<Section>| {
        if let Some(section) = out.last_mut() {
            if !paragraph.is_empty() {
                section.blocks.push(paragraph.join(" "));
            }
            section.blocks.extend(table_lines(table));
        }
        paragraph.clear();
        table.clear();
    };
    for line in body.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        if let Some(heading) = heading_of(line) {
            flush(&mut paragraph, &mut table, &mut out);
            out.push(Section {
                heading: heading.replace("**", ""),
                blocks: Vec::new(),
            });
            continue;
        }
        if trimmed.is_empty() {
            flush(&mut paragraph, &mut table, &mut out);
            continue;
        }
        if is_table_row(trimmed) {
            if !paragraph.is_empty() {
                flush(&mut paragraph, &mut Vec::new(), &mut out);
            }
            table.push(trimmed);
            continue;
        }
        if !table.is_empty() {
            flush(&mut Vec::new(), &mut table, &mut out);
        }
        if is_furniture(trimmed, &headings) {
            continue;
        }
        let text = trimmed.replace("**", "").replace("__", "");
        // List items stay blocks of their own; other lines join their paragraph.
        if ["- ", "* ", "+ ", "• "]
            .iter()
            .any(|m| trimmed.starts_with(m))
            || trimmed.split_once(". ").is_some_and(|(n, _)| {
                !n.is_empty() && n.len() <= 2 && n.chars().all(|c| c.is_ascii_digit())
            })
        {
            if !paragraph.is_empty() {
                flush(&mut paragraph, &mut Vec::new(), &mut out);
            }
            let numbered = !["- ", "* ", "+ ", "• "]
                .iter()
                .any(|m| trimmed.starts_with(m));
            let item = text.trim_start_matches(['-', '*', '+', '•']).trim();
            if let Some(section) = out.last_mut() {
                section.blocks.push(if numbered {
                    strip_links(item)
                } else {
                    format!("• {}", strip_links(item))
                });
            }
            continue;
        }
        paragraph.push(strip_links(&text));
    }
    flush(&mut paragraph, &mut table, &mut out);
    out.retain(|s| !s.blocks.is_empty());
    out.retain(|s| {
        !CONTENTS_HEADINGS
            .iter()
            .any(|h| s.heading.to_lowercase().trim_end_matches(':') == *h)
    });
    out
}

/// Words of a text for matching: lowercased, accents folded, three letters or more;
/// Chinese and Japanese as overlapping character pairs.
fn terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev_cjk: Option<char> = None;
    let push_word = |word: &mut String, out: &mut Vec<String>| {
        if word.chars().count() >= 3 {
            out.push(std::mem::take(word));
        } else {
            word.clear();
        }
    };
    for c in text.chars().flat_map(char::to_lowercase) {
        if is_cjk(c) {
            push_word(&mut word, &mut out);
            if let Some(p) = prev_cjk {
                out.push([p, c].iter().collect());
            }
            prev_cjk = Some(c);
        } else if c.is_alphanumeric() {
            prev_cjk = None;
            word.push(fold(c));
        } else {
            prev_cjk = None;
            push_word(&mut word, &mut out);
        }
    }
    push_word(&mut word, &mut out);
    out
}

/// Two words are the same word in another form when they share a long enough start
/// ("ship"/"shipping", "delivery"/"deliveries", "devolución"/"devoluciones").
fn same_word(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    if a.chars().next().is_some_and(is_cjk) || b.chars().next().is_some_and(is_cjk) {
        return false;
    }
    let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    let shorter = a.chars().count().min(b.chars().count());
    // One stem: "returns" and "returned", "devolver" and "devolución", "Rücksendung"
    // and "Rücksendungen".
    common >= 5 || (common >= 4 && common * 4 >= shorter * 3)
}

/// How well each section matches the question: the question's words found in the
/// section (its heading counting double, unless it is the article's title), each
/// weighted by how few sections use it and by its length.
fn scores(sections: &[Section], question: &str, title: &str) -> Vec<f32> {
    // A country the question names is one term, matched by any of its names or its ISO
    // code ("España" finds the shipping table's row "ES, PT, IT"); its own words leave
    // the word terms, so a section that only names it in passing gains nothing more.
    let countries = crate::countries::named_in(question);
    let answer_kind = AnswerKind::of(question);
    let country_words: Vec<String> = countries
        .iter()
        .flat_map(|c| c.names.iter())
        .flat_map(|name| terms(name))
        .collect();
    let query: Vec<String> = {
        let mut q = terms(question);
        q.retain(|t| !country_words.contains(t));
        q.sort();
        q.dedup();
        q
    };
    let docs: Vec<(Vec<String>, Vec<String>)> = sections
        .iter()
        .map(|s| {
            let heading = if s.heading.trim().eq_ignore_ascii_case(title.trim()) {
                Vec::new()
            } else {
                terms(&s.heading)
            };
            (heading, terms(&s.blocks.join(" ")))
        })
        .collect();
    let n = sections.len() as f32;
    let has = |words: &[String], t: &str| words.iter().any(|w| same_word(w, t));
    let weights: Vec<f32> = query
        .iter()
        .map(|t| {
            let df = docs.iter().filter(|(h, b)| has(h, t) || has(b, t)).count() as f32;
            if df == 0.0 {
                return 0.0;
            }
            // Short words carry little meaning ("how", "you", "for"): a word counts fully
            // from six letters on. Chinese and Japanese character pairs count fully.
            let letters = t.chars().count();
            let meaning = if t.chars().next().is_some_and(is_cjk) {
                1.0
            } else {
                ((letters as f32 - 2.0) / 4.0).clamp(0.25, 1.0)
            };
            meaning * (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
        })
        .collect();
    // Which section mentions which named country, read once.
    let mentions: Vec<Vec<bool>> = sections
        .iter()
        .map(|s| {
            let text = s.text();
            countries
                .iter()
                .map(|c| crate::countries::mentioned(&text, c))
                .collect()
        })
        .collect();
    let country_weights: Vec<f32> = (0..countries.len())
        .map(|c| {
            let df = mentions.iter().filter(|m| m[c]).count() as f32;
            if df == 0.0 {
                0.0
            } else {
                (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
            }
        })
        .collect();
    // The kind of fact asked for counts as one more rare term: by how few sections
    // state one.
    let kind_weight = answer_kind.map_or(0.0, |kind| {
        let df = sections.iter().filter(|s| kind.found_in(&s.text())).count() as f32;
        if df == 0.0 {
            0.0
        } else {
            (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
        }
    });
    docs.iter()
        .zip(sections)
        .zip(&mentions)
        .map(|(((heading, body), section), mentioned)| {
            let words: f32 = query
                .iter()
                .zip(&weights)
                .map(|(t, w)| {
                    let mut s = 0.0;
                    if has(heading, t) {
                        s += 2.0 * w;
                    }
                    if has(body, t) {
                        s += w;
                    }
                    s
                })
                .sum();
            let places: f32 = mentioned
                .iter()
                .zip(&country_weights)
                .filter(|(m, _)| **m)
                .map(|(_, w)| *w)
                .sum();
            // Like a word, the kind counts again when the heading names it ("Return
            // windows", "Prazos de devolução" for "how long do I have?").
            let kind = match answer_kind {
                Some(k) if k.found_in(&section.text()) => {
                    kind_weight
                        * if k.named_in(&section.heading) {
                            3.0
                        } else {
                            1.0
                        }
                }
                _ => 0.0,
            };
            words + places + kind
        })
        .collect()
}

/// What kind of fact a question asks for, when it says: a duration ("how long", "wie
/// lange", "何日") or a price ("how much does … cost", "cuánto cuesta", "いくら"). A
/// section that states one is likelier to answer it ("Return windows: 30 days" for "how
/// long do I have?") even when it shares no other word with the question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AnswerKind {
    Duration,
    Price,
}

const DURATION_QUESTIONS: &[&str] = &[
    "how long",
    "how many days",
    "how many weeks",
    "wie lange",
    "wie viele tage",
    "combien de temps",
    "combien de jours",
    "quel délai",
    "quel est le délai",
    "cuánto tiempo",
    "cuanto tiempo",
    "cuántos días",
    "cuantos dias",
    "qué plazo",
    "quanto tempo",
    "quantos dias",
    "qual o prazo",
    "quanto tempo demora",
    "demora quanto",
    "cuánto tarda",
    "cuanto tarda",
    "tarda cuánto",
    "en cuántos días",
    "wie lange dauert",
    "hoe lang duurt",
    "quanto ci vuole",
    "quanto ci mette",
    "how many hours",
    "quanti giorni",
    "hoe lang",
    "hoeveel dagen",
    "何日",
    "どのくらい",
    "どれくらい",
    "いつまで",
    "多久",
    "几天",
    "幾天",
    "多长时间",
    "多長時間",
    "며칠",
    "얼마나 걸",
    "기간",
];
const PRICE_QUESTIONS: &[&str] = &[
    "how much",
    "what does it cost",
    "what's the cost",
    "wie viel",
    "wieviel",
    "was kostet",
    "combien coûte",
    "combien ça coûte",
    "quel est le prix",
    "quel prix",
    "coûte combien",
    "coute combien",
    "combien ça coûte",
    "combien ca coute",
    "me coûte",
    "me coute",
    "cuesta cuánto",
    "cuánto cuesta",
    "cuanto cuesta",
    "cuánto vale",
    "qué precio",
    "quanto custa",
    "quanto é",
    "quanto costa",
    "hoeveel kost",
    "wat kost",
    "いくら",
    "料金",
    "多少钱",
    "多少錢",
    "運費多少",
    "运费多少",
    "얼마",
];

impl AnswerKind {
    fn of(question: &str) -> Option<Self> {
        let lower = question.to_lowercase();
        if DURATION_QUESTIONS.iter().any(|q| lower.contains(q)) {
            Some(Self::Duration)
        } else if PRICE_QUESTIONS.iter().any(|q| lower.contains(q)) {
            Some(Self::Price)
        } else {
            None
        }
    }

    /// Whether a heading names a fact of this kind: "Return windows", "Lieferfristen",
    /// "Délais", "Shipping costs", "Preise".
    fn named_in(self, heading: &str) -> bool {
        let lower = heading.to_lowercase();
        let nouns: &[&str] = match self {
            Self::Duration => &[
                "window",
                "deadline",
                "time limit",
                "how long",
                "frist",
                "zeitraum",
                "dauer",
                "délai",
                "durée",
                "plazo",
                "prazo",
                "termine",
                "tempi",
                "termijn",
                "期限",
                "期間",
                "日数",
                "时限",
                "時限",
                "天数",
                "天數",
                "기간",
                "기한",
            ],
            Self::Price => &[
                "cost", "price", "fee", "kosten", "preis", "gebühr", "frais", "tarif", "prix",
                "coste", "costo", "precio", "tarifa", "custo", "preço", "taxa", "prezz", "kost",
                "prijs", "tarief", "料金", "価格", "費用", "送料", "费用", "價格", "价格", "运费",
                "運費", "요금", "비용", "가격",
            ],
        };
        nouns.iter().any(|n| lower.contains(n))
    }

    /// Whether `text` states a fact of this kind: a number with a unit of time, or an
    /// amount of money; in a table row read as "Header: value", also a number under a
    /// column whose header names the kind ("Delivery time (working days): 2–5").
    fn found_in(self, text: &str) -> bool {
        let in_column = text.split(['\n', '·']).any(|cell| {
            cell.split_once(':').is_some_and(|(header, value)| {
                value.trim_start().starts_with(|c: char| c.is_ascii_digit())
                    && (self.named_in(header) || self.unit_in(header))
            })
        });
        in_column || self.states(text)
    }

    /// Whether a column header names a unit of this kind ("working days", "Preis in €").
    fn unit_in(self, header: &str) -> bool {
        let lower = header.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric() && !"€$£¥".contains(c))
            .collect();
        self.units().iter().any(|u| {
            if u.chars().any(is_cjk) || u.chars().count() == 1 {
                lower.contains(u)
            } else {
                u.chars().count() >= 3 && words.iter().any(|w| w.starts_with(u.trim()))
            }
        })
    }

    /// Whether `text` holds a number with a unit of this kind.
    fn states(self, text: &str) -> bool {
        let lower = text.to_lowercase();
        let units = self.units();
        let chars: Vec<(usize, char)> = lower.char_indices().collect();
        chars.iter().enumerate().any(|(i, (at, c))| {
            if !c.is_ascii_digit() {
                return false;
            }
            // The unit right after the number ("30 days", "30日", "14 Tage") or, for
            // money, a currency sign right before it ("€79").
            let after_number = chars[i..]
                .iter()
                .find(|(_, c)| !(c.is_ascii_digit() || matches!(c, '.' | ',' | '–' | '-')))
                .map_or(lower.len(), |(j, _)| *j);
            let after = lower[after_number..].trim_start();
            let before = lower[..*at].trim_end();
            units.iter().any(|u| after.starts_with(u))
                || (self == Self::Price && units.iter().any(|u| before.ends_with(u)))
        })
    }

    /// Units of time, or currencies.
    fn units(self) -> &'static [&'static str] {
        match self {
            Self::Duration => &[
                "day", "week", "month", "year", "hour", "tag", "woche", "monat", "jahr", "stunde",
                "jour", "semaine", "mois", "an ", "ans", "heure", "día", "dia", "semana", "mes",
                "año", "ano", "hora", "giorn", "settiman", "mese", "ann", "ora", "dag", "week",
                "maand", "jaar", "uur", "日", "週", "か月", "ヶ月", "年", "時間", "天", "周",
                "个月", "個月", "小时", "小時", "일", "주", "개월", "년", "시간",
            ],
            Self::Price => &[
                "€", "$", "£", "¥", "eur", "usd", "gbp", "chf", "jpy", "円", "元", "원",
            ],
        }
    }
}

/// How close in meaning one passage of an article is to the question: the heading of
/// the section it was cut from (the last part of its heading path) and its cosine
/// similarity.
#[derive(Debug, Clone, PartialEq)]
pub struct Meaning {
    pub heading: String,
    pub cosine: f32,
}

impl Meaning {
    /// From a passage's heading path ("Returns › Return windows") and its similarity.
    /// The article's outline passage (its headings as a list) says nothing of its own:
    /// `None`.
    pub fn of(section_path: &str, text: &str, cosine: f32) -> Option<Self> {
        let body: Vec<&str> = text
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .collect();
        if section_path.is_empty()
            && !body.is_empty()
            && body.iter().all(|l| l.trim_start().starts_with("- "))
        {
            return None;
        }
        let heading = section_path
            .rsplit(" › ")
            .next()
            .unwrap_or_default()
            .replace("**", "")
            .trim()
            .to_owned();
        Some(Self { heading, cosine })
    }
}

/// The section nearest in meaning gains up to this share of the best word score.
const MEANING_WEIGHT: f32 = 0.3;
/// Cosines closer than this are about as near as each other.
const MEANING_SPAN_FLOOR: f32 = 0.02;

/// A section whose heading names all the support topics the question names
/// ([`kefu_knowledge::concepts`]) gains this share of the best word score (as much when
/// no word matched); one whose text names them, less ([`CONCEPT_IN_TEXT`]). Set on the
/// demo question set and the validation shop's tuning cases, where it made no
/// difference between 0.25 and 0.5; in a language the article is not written in, where
/// no word matches, topics alone chose worse sections than the search's own passage.
const CONCEPT_WEIGHT: f32 = 0.5;
const CONCEPT_IN_TEXT: f32 = 0.3;

/// Per section, how much of the question's support topics it names: its heading counts
/// fully, its text by [`CONCEPT_IN_TEXT`], each topic by how few sections name it (one
/// every section names tells none apart); 0 to 1, or nothing when the question names none.
fn concept_shares(sections: &[Section], question: &str) -> Option<Vec<f32>> {
    let lexicon = kefu_knowledge::concepts::builtin();
    let asked = lexicon.named_in(question);
    if asked.is_empty() {
        return None;
    }
    let named: Vec<Vec<f32>> = sections
        .iter()
        .map(|section| {
            let in_heading = lexicon.named_in(&section.heading);
            let in_text = lexicon.named_in(&section.blocks.join("\n"));
            asked
                .iter()
                .map(|c| {
                    if in_heading.contains(c) {
                        1.0
                    } else if in_text.contains(c) {
                        CONCEPT_IN_TEXT
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect();
    let n = sections.len() as f32;
    let weights: Vec<f32> = (0..asked.len())
        .map(|c| {
            let df = named.iter().filter(|s| s[c] > 0.0).count() as f32;
            (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
        })
        .collect();
    let total: f32 = weights.iter().sum();
    Some(
        named
            .iter()
            .map(|s| s.iter().zip(&weights).map(|(v, w)| v * w).sum::<f32>() / total)
            .collect(),
    )
}

/// The best and the worst cosine among an article's passages.
fn meaning_span(meaning: &[Meaning]) -> Option<(f32, f32)> {
    let nearest = meaning.iter().map(|m| m.cosine).reduce(f32::max)?;
    let farthest = meaning.iter().map(|m| m.cosine).reduce(f32::min)?;
    Some((nearest, farthest))
}

/// A section's closeness: its best passage's.
fn meaning_of(meaning: &[Meaning], heading: &str) -> Option<f32> {
    let heading = heading.trim();
    meaning
        .iter()
        .filter(|m| m.heading == heading)
        .map(|m| m.cosine)
        .reduce(f32::max)
}

/// Whether `question` asks what something costs.
pub fn asks_for_price(question: &str) -> bool {
    AnswerKind::of(question) == Some(AnswerKind::Price)
}

/// Whether `text` states the kind of fact `question` asks for (a duration, a price);
/// `None` when the question asks for neither.
pub fn states_what_is_asked(question: &str, text: &str) -> Option<bool> {
    AnswerKind::of(question).map(|kind| kind.found_in(text))
}

/// The part of `body` (an article's Markdown) that answers `question`, at most about
/// `max_chars` characters, as plain text with its section heading; `None` when no section
/// shares a word with the question. Between sections that match about as well, the one
/// in `retrieved` (the passage search found) wins.
pub fn answering_passage(
    body: &str,
    title: &str,
    question: &str,
    retrieved: &str,
    meaning: &[Meaning],
    max_chars: usize,
) -> Option<String> {
    let sections = sections(body);
    let mut found = scores(&sections, question, title);
    let top = found.iter().copied().fold(0.0f32, f32::max);
    for (score, section) in found.iter_mut().zip(&sections) {
        if *score > 0.0 && !section.heading.is_empty() && retrieved.contains(&section.heading) {
            *score += 0.1 * top;
        }
    }
    // Closeness in meaning counts beside the words: the section nearest the question
    // gains up to half the best word score (a whole point when no word matched), so
    // "wie lange habe ich Zeit" finds "Rückgabefristen" among sections that all say
    // "Rücksendung".
    if let Some((nearest, farthest)) = meaning_span(meaning) {
        let span = (nearest - farthest).max(MEANING_SPAN_FLOOR);
        let unit = if top > 0.0 { MEANING_WEIGHT * top } else { 1.0 };
        for (score, section) in found.iter_mut().zip(&sections) {
            if let Some(cosine) = meaning_of(meaning, &section.heading) {
                *score += unit * ((cosine - farthest) / span).clamp(0.0, 1.0);
            }
        }
    }
    if let Some(shares) = concept_shares(&sections, question) {
        let unit = if top > 0.0 {
            CONCEPT_WEIGHT * top
        } else {
            CONCEPT_WEIGHT
        };
        for (score, share) in found.iter_mut().zip(shares) {
            *score += unit * share;
        }
    }
    let (best, score) = found
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))?;
    // Nothing matched, or no section matched better than another: no choice to make.
    let runner_up = found
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != best)
        .map(|(_, s)| *s)
        .fold(0.0f32, f32::max);
    if *score <= 0.0 || (sections.len() > 1 && *score <= runner_up) {
        return None;
    }
    let section = &sections[best];
    let text = section.text();
    if text.chars().count() <= max_chars {
        // Room left, and a second section that matches nearly as well: it follows.
        let second = found
            .iter()
            .enumerate()
            .filter(|(i, s)| *i != best && **s >= 0.7 * *score)
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
            .map(|(i, _)| sections[i].text());
        return Some(match second {
            Some(more) if text.chars().count() + more.chars().count() + 2 <= max_chars => {
                format!("{text}\n\n{more}")
            }
            _ => text,
        });
    }
    // A long section: its best blocks, in their order, with the heading.
    let blocks: Vec<Section> = section
        .blocks
        .iter()
        .map(|b| Section {
            heading: String::new(),
            blocks: vec![b.clone()],
        })
        .collect();
    let block_scores = scores(&blocks, question, "");
    let mut order: Vec<usize> = (0..blocks.len()).collect();
    order.sort_by(|a, b| block_scores[*b].total_cmp(&block_scores[*a]).then(a.cmp(b)));
    // A question about one country ("to Spain") quotes the rows that name it, not every
    // zone that shares the word "shipping".
    let countries = crate::countries::named_in(question);
    let names_country = |b: &String| countries.iter().any(|c| crate::countries::mentioned(b, c));
    let by_country = section.blocks.iter().any(names_country);
    let mut keep: Vec<usize> = Vec::new();
    let mut used = section.heading.chars().count();
    for i in order {
        let len = section.blocks[i].chars().count() + 1;
        if !keep.is_empty()
            && (used + len > max_chars
                || block_scores[i] <= 0.0
                || (by_country && !names_country(&section.blocks[i])))
        {
            continue;
        }
        keep.push(i);
        used += len;
    }
    keep.sort_unstable();
    let chosen = Section {
        heading: section.heading.clone(),
        blocks: keep.iter().map(|i| section.blocks[*i].clone()).collect(),
    };
    Some(chosen.text())
}

/// A retrieved chunk's text without page furniture (its heading path stays first).
pub fn clean_chunk(text: &str) -> String {
    clean_chunk_of(text, &[])
}

/// [`clean_chunk`] knowing the whole article's headings too (`page_headings`): a
/// contents list is furniture even in a chunk that holds none of the headings it lists.
pub fn clean_chunk_of(text: &str, page_headings: &[String]) -> String {
    let body: Vec<&str> = text.lines().collect();
    let headings: Vec<String> = body
        .iter()
        .filter_map(|l| heading_of(l))
        .map(str::to_owned)
        .chain(page_headings.iter().cloned())
        .collect();
    body.into_iter()
        .filter(|l| !is_furniture(l, &headings))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_question_for_a_duration_or_a_price_prefers_a_section_that_states_one() {
        assert!(AnswerKind::Duration.found_in("Sealed items: 30 days"));
        assert!(AnswerKind::Duration.found_in("未開封：30日以内"));
        assert!(!AnswerKind::Duration.found_in("Send us your order number"));
        assert!(AnswerKind::Price.found_in("Standard shipping: €4.90"));
        assert!(AnswerKind::Price.found_in("Versand 4,90 €"));
        assert!(!AnswerKind::Price.found_in("within 2 days"));
        // A table row read as "Header: value": the unit sits in the column's header.
        assert!(AnswerKind::Duration.found_in(
            "Zone: Zone 2 · Standard shipping: €12.90 · Delivery time (working days after dispatch): 3–7"
        ));
        assert!(AnswerKind::Duration.found_in("Zona: 2 · Plazo de entrega: 3–7"));
        assert!(!AnswerKind::Duration.found_in("Zone: 2 · Countries: 14"));
        let body = "# Returns\n\n## How to return\n\nSend us the order number in the chat and we e-mail a label.\n\n## Return windows\n\n| Condition | Window |\n|---|---|\n| Sealed | 30 days |\n| Opened | 14 days |\n";
        let q =
            answering_passage(body, "Returns", "Wie lange habe ich Zeit?", "", &[], 700).unwrap();
        assert!(q.contains("30"), "{q}");
    }

    #[test]
    fn a_question_about_one_country_quotes_its_row_of_the_table() {
        let mut body = String::from(
            "# Shipping\n\n## Carriers\n\nSpain, Portugal and Italy: GLS. Everywhere else: DHL.\n\n\
             ## Fees and delivery times by zone\n\n\
             | Zone | Countries | Standard shipping | Delivery time (working days) |\n|---|---|---|---|\n",
        );
        for (zone, countries, fee, days) in [
            ("Germany", "DE", "€4.90", "1–3"),
            ("Zone 1", "AT, BE, FR, NL", "€8.90", "2–5"),
            ("Zone 2", "ES, PT, IT, IE", "€12.90", "3–7"),
            ("Zone 3", "Switzerland, United Kingdom", "€19.90", "4–8"),
        ] {
            body.push_str(&format!("| {zone} | {countries} | {fee} | {days} |\n"));
        }
        let q = answering_passage(
            &body,
            "Shipping",
            "cuánto tarda el envío a España?",
            "",
            &[],
            200,
        )
        .unwrap();
        assert!(q.contains("Zone 2") && q.contains("3–7"), "{q}");
        assert!(!q.contains("Zone 1") && !q.contains("GLS"), "{q}");
    }

    #[test]
    fn a_section_whose_heading_names_the_topic_asked_about_answers() {
        let body = "# Returns\n\n## Starting a return\n\nTell us which item you want to return and we e-mail you a label for the item.\n\n## Return deadline\n\nSealed: 30 days. Opened: 14 days.\n";
        let q = answering_passage(body, "Returns", "What is your return period?", "", &[], 700)
            .unwrap();
        assert!(q.starts_with("Return deadline"), "{q}");
    }

    #[test]
    fn a_contents_list_is_furniture_even_without_its_headings_in_the_chunk() {
        let body = "# Warranty\n\n**Contents**\n\n1. Legal warranty\n2. Frame guarantee\n\n## 1. Legal warranty\n\nTwo years.\n\n## 2. Frame guarantee\n\nFive years on frames.\n";
        let chunk = "Warranty\n\n**Contents**\n\n1. Legal warranty\n2. Frame guarantee";
        let cleaned = clean_chunk_of(chunk, &headings(body));
        assert!(!cleaned.contains("Legal warranty"), "{cleaned}");
        assert!(!cleaned.contains("Contents"), "{cleaned}");
        assert!(clean_chunk(chunk).contains("Legal warranty"));
    }

    const LONG_POLICY: &str = "Home › Help › Returns\n\n\
        # Returns policy\n\n\
        Last updated: 3 March 2026\n\n\
        ## Contents\n\n\
        - [Who can return](#who-can-return)\n\
        - [Return windows](#return-windows)\n\
        - [Refunds](#refunds)\n\n\
        ## Who can return\n\n\
        Anyone who bought from us online can return items, with the receipt or order number.\n\n\
        ## Return windows\n\n\
        How long you have depends on the state of the item.\n\n\
        | Condition | Return window |\n\
        |---|---|\n\
        | Sealed | 30 days |\n\
        | Opened | 14 days |\n\n\
        [Back to top](#top)\n\n\
        ## Refunds\n\n\
        Refunds reach your card within 5 working days of the parcel arriving.\n";

    fn shipping() -> String {
        [
            "# Shipping costs",
            "",
            "We keep shipping simple and transparent. The exact cost is always shown at checkout.",
            "",
            "## Is shipping free?",
            "",
            "Yes — standard shipping is free on every order over $50.",
            "",
            "## How much does express shipping cost?",
            "",
            "Express shipping costs $14.90 per order.",
        ]
        .join("\n")
    }

    #[test]
    fn closeness_in_meaning_decides_between_sections_the_words_cannot_tell_apart() {
        let body = "## Sending it back\nWe accept parcels from every country.\n\n## Return windows\nWe accept parcels for 30 days.";
        let meaning = |back: f32, windows: f32| {
            vec![
                Meaning::of(
                    "Returns › Sending it back",
                    "Returns › Sending it back\n…",
                    back,
                )
                .unwrap(),
                Meaning::of(
                    "Returns › Return windows",
                    "Returns › Return windows\n…",
                    windows,
                )
                .unwrap(),
            ]
        };
        let q = "do you accept parcels?";
        let near_windows = answering_passage(body, "Returns", q, "", &meaning(0.80, 0.86), 700);
        assert!(near_windows.unwrap().contains("30 days"));
        let near_back = answering_passage(body, "Returns", q, "", &meaning(0.86, 0.80), 700);
        assert!(near_back.unwrap().contains("every country"));
        // The outline passage (the article's headings) says nothing of its own.
        assert_eq!(
            Meaning::of("", "Returns\n- Sending it back\n- Return windows", 0.9),
            None
        );
    }

    #[test]
    fn a_contents_list_on_one_line_is_furniture() {
        let headings = vec![
            "Cancelling".to_string(),
            "Changing the delivery address".to_string(),
            "Changing items".to_string(),
        ];
        for line in [
            "On this page: Cancelling · Changing the delivery address · Changing items · Unpaid bank transfers",
            "Cancelling · Changing the delivery address · Changing items",
            "Inhalt: Stornieren · Adresse ändern · Artikel ändern",
        ] {
            assert!(is_furniture(line, &headings), "{line}");
        }
        for line in [
            "Standard · Express · Same day: choose at checkout.",
            "You can cancel free of charge as long as your order shows the status Unfulfilled.",
        ] {
            assert!(!is_furniture(line, &headings), "{line}");
        }
    }

    #[test]
    fn furniture_lines_are_recognised_and_content_is_not() {
        let headings = vec!["Refunds".to_owned(), "Return windows".to_owned()];
        for line in [
            "Last updated: 3 March 2026",
            "_Last updated on 2 May 2025_",
            "Zuletzt aktualisiert: 3. März 2026",
            "最終更新日：2026年3月3日",
            "Home › Help › Returns",
            "Home > FAQ > Shipping costs",
            "[Back to top](#top)",
            "Back to top",
            "- [Refunds](#refunds)",
            "- Return windows",
            "1. Refunds",
        ] {
            assert!(is_furniture(line, &headings), "{line}");
        }
        for line in [
            "Refunds reach your card within 5 working days.",
            "- Silver members enjoy free standard shipping on all orders.",
            "Send it to 12 Harbor Way / Oakland.",
            "We updated our prices on 1 May.",
            "See our [returns page](https://shop.example/returns) for details.",
        ] {
            assert!(!is_furniture(line, &headings), "{line}");
        }
    }

    #[test]
    fn the_section_that_answers_is_quoted_not_the_first_lines() {
        let q = answering_passage(
            &shipping(),
            "Shipping costs",
            "do you ship for free?",
            "",
            &[],
            700,
        )
        .unwrap();
        assert_eq!(
            q,
            "Is shipping free?\nYes — standard shipping is free on every order over $50."
        );
        let q = answering_passage(
            &shipping(),
            "Shipping costs",
            "is delivery free over some amount?",
            "",
            &[],
            700,
        )
        .unwrap();
        assert!(q.contains("over $50"), "{q}");
        let q = answering_passage(
            &shipping(),
            "Shipping costs",
            "what does express cost",
            "",
            &[],
            700,
        )
        .unwrap();
        assert_eq!(
            q,
            "How much does express shipping cost?\nExpress shipping costs $14.90 per order."
        );
    }

    #[test]
    fn a_long_page_answers_with_its_table_row_never_with_its_furniture() {
        let q = answering_passage(
            LONG_POLICY,
            "Returns policy",
            "how many days to return an opened item?",
            "",
            &[],
            700,
        )
        .unwrap();
        assert_eq!(
            q,
            "Return windows\nHow long you have depends on the state of the item.\n• Sealed: 30 days\n• Opened: 14 days"
        );
        let q = answering_passage(
            LONG_POLICY,
            "Returns policy",
            "when do I get my refund",
            "",
            &[],
            700,
        )
        .unwrap();
        assert_eq!(
            q,
            "Refunds\nRefunds reach your card within 5 working days of the parcel arriving."
        );
        // No section holds the contents list, the date or the breadcrumb.
        let all: Vec<String> = sections(LONG_POLICY).iter().map(Section::text).collect();
        let all = all.join("\n");
        for furniture in [
            "Last updated",
            "Home ›",
            "#who-can-return",
            "Back to top",
            "Contents",
        ] {
            assert!(!all.contains(furniture), "{furniture} in {all}");
        }
    }

    #[test]
    fn a_long_section_is_narrowed_to_its_best_rows() {
        let mut rows = String::from("## Return windows\n\n| Category | Window |\n|---|---|\n");
        for i in 0..40 {
            rows.push_str(&format!("| Category number {i} | {i} days |\n"));
        }
        rows.push_str("| Teapots | 60 days |\n");
        let q =
            answering_passage(&rows, "Returns", "return window for teapots", "", &[], 200).unwrap();
        assert!(q.starts_with("Return windows\n"), "{q}");
        assert!(q.contains("• Teapots: 60 days"), "{q}");
        assert!(q.chars().count() <= 200 + 40, "{q}");
    }

    #[test]
    fn a_question_sharing_no_word_gets_nothing() {
        assert_eq!(
            answering_passage(
                &shipping(),
                "Shipping costs",
                "猫は好きですか",
                "",
                &[],
                700
            ),
            None
        );
        // Naming a support topic the section's heading names is not sharing a word, but
        // it tells the sections apart.
        let q = answering_passage(
            &shipping(),
            "Shipping costs",
            "送料はいくらですか",
            "",
            &[],
            700,
        );
        assert!(q.is_some_and(|q| q.starts_with("How much does express shipping cost?")));
    }

    #[test]
    fn chinese_questions_match_by_character_pairs() {
        let body = "# 运费\n\n我们的运费在结账时显示。\n\n## 免运费吗？\n\n订单满 50 美元免运费。\n\n## 快递多少钱？\n\n快递每单 14.90 美元。";
        let q = answering_passage(body, "运费", "你们免运费吗", "", &[], 700).unwrap();
        assert_eq!(q, "免运费吗？\n订单满 50 美元免运费。");
    }

    #[test]
    fn chunks_lose_their_furniture() {
        let chunk =
            "Returns policy › Return windows\nLast updated: 3 March 2026\nSealed items: 30 days.";
        assert_eq!(
            clean_chunk(chunk),
            "Returns policy › Return windows\nSealed items: 30 days."
        );
    }
}
