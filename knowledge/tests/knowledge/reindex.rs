use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kefu_knowledge::embed::openai::{OpenAiEmbedder, OpenAiSettings};
use kefu_knowledge::{Embedder, Knowledge, SearchRequest, Source, SourceKind};
use kefu_knowledge_edge::EdgeIndex;

use crate::embeddings_server;

fn article(id: &str, lang: &str, title: &str, body: &str) -> Source {
    Source {
        doc_id: id.into(),
        group: id.split('-').next().unwrap().into(),
        lang: lang.into(),
        title: title.into(),
        url: Some(format!("https://shop.example/{id}")),
        tags: vec![],
        kind: SourceKind::Article,
        body: body.into(),
        in_stock: None,
        price: None,
    }
}

fn shop() -> Vec<Source> {
    vec![
        article(
            "returns-en",
            "en",
            "Returns",
            "You can return items within 30 days.\n\n## Damaged\n\nSend a photo of the damage.",
        ),
        article(
            "shipping-en",
            "en",
            "Shipping",
            "Parcels arrive in 3 to 5 business days.",
        ),
        article(
            "returns-es",
            "es",
            "Devoluciones",
            "Puedes devolver artículos en 30 días.",
        ),
    ]
}

async fn knowledge(dir: &std::path::Path) -> (Knowledge, embeddings_server::Server) {
    let server = embeddings_server::start("k").await;
    let embedder = OpenAiEmbedder::connect(OpenAiSettings {
        base_url: server.base_url.clone(),
        model: "test-embed".into(),
        api_key: Some("k".into()),
        query_prefix: String::new(),
        passage_prefix: String::new(),
        timeout: Duration::from_secs(5),
        batch: 16,
    })
    .await
    .unwrap();
    let embedder: Arc<dyn Embedder> = Arc::new(embedder);
    let layout = Knowledge::layout_for(Some(embedder.as_ref()));
    let index = EdgeIndex::open(dir, &layout).unwrap();
    (Knowledge::new(Arc::new(index), Some(embedder)), server)
}

#[tokio::test]
async fn reindexing_embeds_only_what_changed_and_drops_what_was_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (knowledge, server) = knowledge(dir.path()).await;
    let first = knowledge.reindex(&shop()).await.unwrap();
    assert_eq!(first.sources, 3);
    assert_eq!(first.written, first.chunks);
    assert_eq!(first.unchanged, 0);

    let embedded = server.behaviour.inputs.load(Ordering::SeqCst);
    let again = knowledge.reindex(&shop()).await.unwrap();
    assert_eq!((again.written, again.deleted), (0, 0));
    assert_eq!(again.unchanged, first.chunks);
    assert_eq!(
        server.behaviour.inputs.load(Ordering::SeqCst),
        embedded,
        "unchanged chunks were re-embedded"
    );

    // Edit one document, drop another.
    let mut edited = shop();
    edited[1].body = "Parcels arrive in 2 to 4 business days by express courier.".into();
    edited.remove(2);
    let third = knowledge.reindex(&edited).await.unwrap();
    assert_eq!(third.written, 1, "only the edited chunk is rewritten");
    assert_eq!(third.deleted, 1, "the removed document's chunk is deleted");
    assert_eq!(server.behaviour.inputs.load(Ordering::SeqCst), embedded + 1);
    assert_eq!(knowledge.index().count().await.unwrap(), third.chunks);

    let found = knowledge
        .search(&SearchRequest {
            lang: Some("en".into()),
            ..SearchRequest::new("express courier")
        })
        .await
        .unwrap();
    assert_eq!(found[0].hit.passage.doc_id, "shipping-en");
    assert!(found[0].hit.passage.text.contains("express courier"));
    let devoluciones = knowledge
        .search(&SearchRequest::new("devolver artículos"))
        .await
        .unwrap();
    assert!(
        devoluciones
            .iter()
            .all(|f| f.hit.passage.doc_id != "returns-es")
    );
}

#[tokio::test]
async fn a_topic_is_cited_in_the_customers_language_when_the_shop_has_it() {
    let dir = tempfile::tempdir().unwrap();
    let (knowledge, _server) = knowledge(dir.path()).await;
    knowledge.reindex(&shop()).await.unwrap();
    let found = knowledge
        .search(&SearchRequest {
            lang: Some("es".into()),
            top: 3,
            ..SearchRequest::new("return items within 30 days")
        })
        .await
        .unwrap();
    let returns = found
        .iter()
        .find(|f| f.hit.passage.group == "returns")
        .unwrap();
    assert_eq!(returns.hit.passage.doc_id, "returns-es");
    assert!(returns.in_query_language);
    // One passage per topic.
    let groups: std::collections::HashSet<_> = found.iter().map(|f| &f.hit.passage.group).collect();
    assert_eq!(groups.len(), found.len());
}

#[tokio::test]
async fn an_index_built_with_another_model_is_refused_until_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (knowledge, _server) = knowledge(dir.path()).await;
        knowledge.reindex(&shop()).await.unwrap();
    }
    let bm25_only = Knowledge::layout_for(None);
    let err = EdgeIndex::open(dir.path(), &bm25_only).unwrap_err();
    assert!(err.to_string().contains("reindex --rebuild"), "{err}");
    let rebuilt = EdgeIndex::recreate(dir.path(), &bm25_only).unwrap();
    let knowledge = Knowledge::new(Arc::new(rebuilt), None);
    assert_eq!(knowledge.index().count().await.unwrap(), 0);
    let report = knowledge.reindex(&shop()).await.unwrap();
    assert_eq!(report.written, report.chunks);
    let found = knowledge
        .search(&SearchRequest::new("photo of the damage"))
        .await
        .unwrap();
    assert_eq!(found[0].hit.passage.doc_id, "returns-en");
    assert_eq!(found[0].hit.passage.section, "Damaged");
}

#[tokio::test]
async fn a_question_reaches_an_article_in_another_language_by_the_topic_it_names() {
    // Keywords alone: a Dutch question shares no word with the English pages.
    let dir = tempfile::tempdir().unwrap();
    let index = EdgeIndex::recreate(dir.path(), &Knowledge::layout_for(None)).unwrap();
    let knowledge = Knowledge::new(Arc::new(index), None);
    let shop = vec![
        article(
            "shipping-en",
            "en",
            "Shipping",
            "## Shipping costs by zone\n\nGermany €4.90, Netherlands €8.90, rest of the EU €12.90.",
        ),
        article(
            "returns-en",
            "en",
            "Returns",
            "## Return window\n\nSend items back within 30 days for a full refund.",
        ),
        article(
            "vouchers-en",
            "en",
            "Gift vouchers",
            "## Validity\n\nA gift voucher is valid for three years.",
        ),
    ];
    knowledge.reindex(&shop).await.unwrap();
    let ask = |text: &str| SearchRequest {
        lang: Some("nl".into()),
        top: 3,
        filter: kefu_knowledge::Filter {
            kinds: vec![SourceKind::Article],
            ..Default::default()
        },
        ..SearchRequest::new(text)
    };
    let found = knowledge
        .search(&ask("wat zijn de verzendkosten naar nederland?"))
        .await
        .unwrap();
    assert_eq!(found[0].hit.passage.doc_id, "shipping-en", "{found:?}");
    assert!(found[0].confident);
    assert!(!found[0].in_query_language);
    let found = knowledge
        .search(&ask("hoe lang is een cadeaubon geldig?"))
        .await
        .unwrap();
    assert_eq!(found[0].hit.passage.doc_id, "vouchers-en", "{found:?}");
    // A question naming no topic of the lexicon finds nothing it is sure of.
    let found = knowledge
        .search(&ask("wat is jullie lievelingskleur?"))
        .await
        .unwrap();
    assert!(found.iter().all(|f| !f.confident), "{found:?}");
}
