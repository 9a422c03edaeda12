//! Embeddings from any OpenAI-compatible `/v1/embeddings` endpoint: OpenAI, Ollama, vLLM,
//! text-embeddings-inference, llama.cpp's server.

use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::embeddings::{CreateEmbeddingRequestArgs, EmbeddingInput};
use async_trait::async_trait;

use super::{EmbedError, Embedder, Role, normalize};

/// Where and what to call.
#[derive(Debug, Clone)]
pub struct OpenAiSettings {
    /// Base URL including the version path, e.g. `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    /// Prefixes some models expect (e5: `query: ` / `passage: `); empty for most.
    pub query_prefix: String,
    pub passage_prefix: String,
    pub timeout: Duration,
    /// Inputs per request.
    pub batch: usize,
}

pub struct OpenAiEmbedder {
    client: Client<OpenAIConfig>,
    settings: OpenAiSettings,
    dimension: usize,
    name: String,
}

impl std::fmt::Debug for OpenAiEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiEmbedder")
            .field("base_url", &self.settings.base_url)
            .field("model", &self.settings.model)
            .field("dimension", &self.dimension)
            .finish()
    }
}

/// Attempts per request: the first try plus retries with doubling backoff, for 429, 5xx and
/// connection errors.
const ATTEMPTS: u32 = 3;

impl OpenAiEmbedder {
    /// Connects and learns the vector size by embedding one probe text, so a wrong URL,
    /// key or model name fails at start-up rather than at the first customer question.
    pub async fn connect(settings: OpenAiSettings) -> Result<Self, EmbedError> {
        let mut config = OpenAIConfig::new().with_api_base(settings.base_url.trim_end_matches('/'));
        if let Some(key) = &settings.api_key {
            config = config.with_api_key(key);
        }
        // reqwest refuses to build a TLS client without a process-wide crypto provider;
        // the binary installs ring at start-up, library users (and tests) may not have.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()
            .map_err(|err| endpoint_error(&settings.base_url, err))?;
        let client = Client::with_config(config).with_http_client(http);
        let name = format!("openai:{}", settings.model);
        let mut embedder = Self {
            client,
            settings,
            dimension: 0,
            name,
        };
        let probe = embedder.request(vec!["dimension probe".to_owned()]).await?;
        embedder.dimension = probe.first().map_or(0, Vec::len);
        if embedder.dimension == 0 {
            return Err(endpoint_error(
                &embedder.settings.base_url,
                "returned an empty embedding",
            ));
        }
        Ok(embedder)
    }

    async fn request(&self, inputs: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let sent = inputs.len();
        let request = CreateEmbeddingRequestArgs::default()
            .model(self.settings.model.clone())
            .input(EmbeddingInput::StringArray(inputs))
            .build()
            .map_err(|err| endpoint_error(&self.settings.base_url, err))?;
        let mut delay = Duration::from_millis(200);
        let mut attempt = 1;
        let response = loop {
            match self.client.embeddings().create(request.clone()).await {
                Ok(response) => break response,
                Err(err) if attempt < ATTEMPTS && retryable(&err) => {
                    tracing::warn!(attempt, error = %err, "embeddings request failed, retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                Err(err) => return Err(endpoint_error(&self.settings.base_url, err)),
            }
        };
        if response.data.len() != sent {
            return Err(EmbedError::Count {
                endpoint: self.settings.base_url.clone(),
                sent,
                got: response.data.len(),
            });
        }
        let mut data = response.data;
        // The API returns an index per vector; servers do not all keep input order.
        data.sort_by_key(|e| e.index);
        let mut out = Vec::with_capacity(sent);
        for embedding in data {
            let mut vector = embedding.embedding;
            if self.dimension != 0 && vector.len() != self.dimension {
                return Err(EmbedError::Dimension {
                    model: self.name.clone(),
                    got: vector.len(),
                    want: self.dimension,
                });
            }
            normalize(&mut vector);
            out.push(vector);
        }
        Ok(out)
    }
}

fn retryable(err: &OpenAIError) -> bool {
    match err {
        OpenAIError::Reqwest(err) => {
            err.is_connect()
                || err.is_timeout()
                || err
                    .status()
                    .is_some_and(|s| s.is_server_error() || s.as_u16() == 429)
        }
        OpenAIError::ApiError(api) => {
            api.status_code.is_server_error() || api.status_code.as_u16() == 429
        }
        _ => false,
    }
}

fn endpoint_error(endpoint: &str, err: impl std::fmt::Display) -> EmbedError {
    EmbedError::Endpoint {
        endpoint: endpoint.to_owned(),
        message: err.to_string(),
    }
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn model(&self) -> &str {
        &self.name
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    async fn embed(&self, texts: &[String], role: Role) -> Result<Vec<Vec<f32>>, EmbedError> {
        let prefix = match role {
            Role::Query => &self.settings.query_prefix,
            Role::Passage => &self.settings.passage_prefix,
        };
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.settings.batch.max(1)) {
            let inputs = batch
                .iter()
                // The API refuses empty strings; a lone space embeds as "nothing".
                .map(|t| {
                    if t.trim().is_empty() {
                        format!("{prefix} ")
                    } else {
                        format!("{prefix}{t}")
                    }
                })
                .collect();
            out.extend(self.request(inputs).await?);
        }
        Ok(out)
    }
}
