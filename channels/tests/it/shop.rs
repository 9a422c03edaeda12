//! A small demo shop with an agent over it, for the channel tests.

use std::sync::Arc;

use kefu_bot::agent::{Agent, AgentSettings};
use kefu_bot::demo::DemoConfig;
use kefu_bot::shop::Email;
use kefu_bot::store::{ConnectOptions, Store};
use kefu_knowledge::Knowledge;

pub const EMILY: &str = "emily.johnson@example.com";

pub struct Shop {
    pub agent: Arc<Agent>,
    pub store: Store,
    _dir: tempfile::TempDir,
}

impl Shop {
    pub async fn new() -> Self {
        Self::build(None).await
    }

    /// The shop with an LLM engine at `base_url` (an OpenAI-compatible server).
    pub async fn with_llm(base_url: &str) -> Self {
        Self::build(Some(base_url)).await
    }

    async fn build(llm: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("kefu.db").display());
        let store = Store::open(&url, &ConnectOptions::default()).await.unwrap();
        let cfg = DemoConfig {
            seed: 2026,
            customers: 60,
            orders: 300,
            today: chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
        };
        kefu_bot::demo::load(&store, &cfg, &|_| {}).await.unwrap();
        let index_dir = dir.path().join("index");
        std::fs::create_dir_all(&index_dir).unwrap();
        let index =
            kefu_knowledge_edge::EdgeIndex::open(&index_dir, &Knowledge::layout_for(None)).unwrap();
        let knowledge = Knowledge::new(Arc::new(index), None);
        let sources = kefu_bot::sources::knowledge_sources(&store, Some("https://shop.example"))
            .await
            .unwrap();
        knowledge.reindex(&sources).await.unwrap();
        let now = cfg.now();
        let settings = AgentSettings {
            shop_name: "Lotus & Pine".into(),
            shop_url: Some("https://shop.example".into()),
            clock: Arc::new(move || now),
            ..AgentSettings::default()
        };
        let mut agent = Agent::new(store.clone(), Some(Arc::new(knowledge)), settings).unwrap();
        if let Some(base_url) = llm {
            let engine = kefu_bot::agent::llm::LlmEngine::new(kefu_bot::agent::llm::LlmSettings {
                base_url: base_url.into(),
                model: "scripted".into(),
                ..Default::default()
            })
            .unwrap();
            agent = agent.with_llm(engine);
        }
        Self {
            agent: Arc::new(agent),
            store,
            _dir: dir,
        }
    }

    pub async fn customer(&self, email: &str) -> i64 {
        self.store
            .customer_by_email(&Email::parse(email).unwrap())
            .await
            .unwrap()
            .unwrap()
            .id
    }
}
