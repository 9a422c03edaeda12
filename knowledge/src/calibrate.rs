//! "Confident enough", learnt from the shop's own articles.
//!
//! A fixed cosine or BM25 cut-off fits the shop it was tuned on: cosines crowd into a
//! narrower band on a shop with many similar articles, BM25 scores grow with the number
//! of passages and shrink with their length. So at every re-index kefu asks its own
//! index the shop's article titles and headings as if they were questions, and records,
//! for each, the score of the article it came from ("own"), what text unrelated to it
//! scores ("unrelated": 0 for BM25; for the cosine, its similarity to the mean passage of
//! its language, which is the average cosine with that language's passages), and the own
//! article's lead over the next result. From the medians:
//!
//! - the **threshold** lies [`BETWEEN`] of the way from "unrelated" up to "own"; a
//!   passage at or above it is answered from;
//! - the **floor** lies half as far; a passage below it is never answered from;
//! - the **margin** is a share ([`MARGIN_SHARE`]) of the median lead: a best passage
//!   between floor and threshold is still answered from when it leads the next result
//!   by that much.
//!
//! Done for the dense score (cosine, with a model) and the BM25 score (keywords)
//! separately. With fewer than [`MIN_SAMPLES`] headings the configured thresholds apply.

/// Where the threshold sits between unrelated text and the median own score, for BM25
/// and for the cosine. Headings are the article's own words, so their own scores are
/// higher than a customer's question's; set on the demo shop's question set
/// (`evals/demo`).
pub const BETWEEN_BM25: f32 = 0.35;
pub const BETWEEN_COSINE: f32 = 0.27;
/// Share of the median lead that makes a best passage below the threshold confident.
pub const MARGIN_SHARE: f32 = 0.5;
/// Fewer pseudo-questions than this: no calibration, the configured thresholds apply.
pub const MIN_SAMPLES: usize = 8;
/// Pseudo-questions asked at most per re-index (a deterministic sample of larger shops).
pub const MAX_SAMPLES: usize = 300;

/// One score's calibrated levels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    pub floor: f32,
    pub threshold: f32,
    pub margin: f32,
    /// The medians they come from, for reports.
    pub own: f32,
    pub unrelated: f32,
}

/// The shop's levels, per kind of evidence.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Calibration {
    /// Cosine levels (with an embedding model).
    pub dense: Option<Level>,
    /// BM25 levels (keywords alone).
    pub sparse: Option<Level>,
    /// Pseudo-questions asked.
    pub samples: usize,
}

/// What one pseudo-question scored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Its own article's score (`None`: not among the results).
    pub own: Option<f32>,
    /// What unrelated text scores against the question.
    pub unrelated: Option<f32>,
    /// The own article's lead over the next result, when it came first.
    pub lead: Option<f32>,
}

fn median(values: &mut [f32]) -> Option<f32> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f32::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

/// The levels from a set of samples, `None` with too few.
pub fn level(samples: &[Sample], between: f32) -> Option<Level> {
    let mut own: Vec<f32> = samples.iter().filter_map(|s| s.own).collect();
    let mut unrelated: Vec<f32> = samples.iter().filter_map(|s| s.unrelated).collect();
    let mut lead: Vec<f32> = samples.iter().filter_map(|s| s.lead).collect();
    if own.len() < MIN_SAMPLES || unrelated.len() < MIN_SAMPLES {
        return None;
    }
    let own = median(&mut own)?;
    let unrelated = median(&mut unrelated)?;
    if own <= unrelated {
        // Headings do not find their own articles above unrelated text: nothing to learn.
        return None;
    }
    let threshold = unrelated + between * (own - unrelated);
    let floor = unrelated + between / 2.0 * (own - unrelated);
    let margin = median(&mut lead).map_or(f32::INFINITY, |l| MARGIN_SHARE * l);
    Some(Level {
        floor,
        threshold,
        margin,
        own,
        unrelated,
    })
}

/// The titles and headings of the shop's articles as questions: `(text, group, lang)`.
/// A heading several articles share ("Overview", "Contents") says nothing about any one
/// of them and is left out; so are very short ones.
pub fn pseudo_questions(sources: &[crate::chunk::Source]) -> Vec<(String, String, String)> {
    use std::collections::HashMap;
    let mut out: Vec<(String, String, String)> = Vec::new();
    for s in sources
        .iter()
        .filter(|s| s.kind == crate::index::SourceKind::Article)
    {
        let mut texts = vec![s.title.trim().to_owned()];
        for line in s.body.lines() {
            let t = line.trim_start();
            let level = t.bytes().take_while(|&b| b == b'#').count();
            if (1..=6).contains(&level) && t[level..].starts_with(' ') {
                let heading = t[level..].trim().trim_end_matches('#').trim();
                if !heading.is_empty() && heading != s.title.trim() {
                    texts.push(heading.to_owned());
                }
            }
        }
        for text in texts {
            if text.chars().count() >= 4 {
                out.push((text, s.group.clone(), s.lang.clone()));
            }
        }
    }
    let mut groups_per_text: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
    for (text, group, _) in &out {
        groups_per_text
            .entry(text.to_lowercase())
            .or_default()
            .insert(group.clone());
    }
    out.retain(|(text, _, _)| {
        groups_per_text
            .get(&text.to_lowercase())
            .is_some_and(|g| g.len() == 1)
    });
    if out.len() > MAX_SAMPLES {
        // Every n-th, in a stable order: the same shop gets the same sample.
        out.sort();
        let step = out.len().div_ceil(MAX_SAMPLES);
        out = out.into_iter().step_by(step).collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(own: f32, unrelated: f32, lead: Option<f32>) -> Sample {
        Sample {
            own: Some(own),
            unrelated: Some(unrelated),
            lead,
        }
    }

    #[test]
    fn levels_sit_between_unrelated_text_and_own_articles() {
        let samples: Vec<Sample> = (0..10)
            .map(|i| sample(0.80 + i as f32 * 0.01, 0.70 + i as f32 * 0.005, Some(0.04)))
            .collect();
        let level = level(&samples, 0.5).unwrap();
        // Medians: own 0.845, unrelated 0.7225.
        assert!((level.own - 0.845).abs() < 1e-5, "{level:?}");
        assert!((level.unrelated - 0.7225).abs() < 1e-5, "{level:?}");
        assert!((level.threshold - 0.78375).abs() < 1e-5, "{level:?}");
        assert!((level.floor - 0.753125).abs() < 1e-5, "{level:?}");
        assert!((level.margin - 0.02).abs() < 1e-6, "{level:?}");
        // BM25: unrelated text scores 0, so the threshold is a share of the own score.
        let bm25: Vec<Sample> = (0..9).map(|i| sample(20.0 + i as f32, 0.0, None)).collect();
        let level = super::level(&bm25, 0.35).unwrap();
        assert!((level.threshold - 8.4).abs() < 1e-4, "{level:?}");
        assert_eq!(level.margin, f32::INFINITY);
    }

    #[test]
    fn too_few_or_useless_samples_give_no_levels() {
        let few: Vec<Sample> = (0..MIN_SAMPLES - 1)
            .map(|_| sample(20.0, 5.0, None))
            .collect();
        assert_eq!(level(&few, 0.35), None);
        let inverted: Vec<Sample> = (0..10).map(|_| sample(5.0, 20.0, None)).collect();
        assert_eq!(level(&inverted, 0.35), None);
    }

    #[test]
    fn shared_and_tiny_headings_are_no_questions() {
        let source = |id: &str, body: &str| crate::chunk::Source {
            doc_id: id.into(),
            group: id.into(),
            lang: "en".into(),
            title: format!("About {id}"),
            url: None,
            tags: Vec::new(),
            kind: crate::index::SourceKind::Article,
            body: body.into(),
            in_stock: None,
            price: None,
        };
        let q = pseudo_questions(&[
            source(
                "returns",
                "# About returns\n\n## Overview\n\nx\n\n## How long do I have?\n\ny\n\n## FAQ\n",
            ),
            source("shipping", "## Overview\n\nz\n\n## Is shipping free?\n"),
        ]);
        let texts: Vec<&str> = q.iter().map(|(t, _, _)| t.as_str()).collect();
        assert_eq!(
            texts,
            [
                "About returns",
                "How long do I have?",
                "About shipping",
                "Is shipping free?"
            ]
        );
    }
}
