//! Which OpenAI-style API a request addresses, from its method and path.

/// The APIs whose traffic the filter reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    ChatCompletions,
    Completions,
    Embeddings,
    Responses,
}

impl Api {
    /// Whether a streamed response of this API carries usage only when the request asks for
    /// `stream_options.include_usage` (the Responses API always sends it in
    /// `response.completed`).
    pub fn usage_needs_stream_options(self) -> bool {
        matches!(self, Api::ChatCompletions | Api::Completions)
    }
}

/// A classified request path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteMatch {
    pub api: Api,
    /// The path without its query: LiteLLM's `route` label (`/v1/chat/completions`).
    pub route: String,
    /// For Azure OpenAI `/openai/deployments/{deployment}/...`: the deployment name, which
    /// stands in for the model when the body has none.
    pub azure_deployment: Option<String>,
    /// The part of the path before the API's own segments (`/v1`, `/openai/deployments/d`), to
    /// rebuild an `api_base` when no `model_list` entry names one.
    pub base_path: String,
}

/// Classifies `POST` requests to chat completions, completions, embeddings and responses, with or
/// without `/v1`, and Azure deployment paths. Anything else is not LLM traffic: `None`.
pub fn classify(method: &str, path: &str) -> Option<RouteMatch> {
    if !method.eq_ignore_ascii_case("POST") {
        return None;
    }
    let route = path.split(['?', '#']).next().unwrap_or(path);
    let trimmed = route.trim_end_matches('/');
    const SUFFIXES: [(&str, Api); 4] = [
        ("/chat/completions", Api::ChatCompletions),
        ("/completions", Api::Completions),
        ("/embeddings", Api::Embeddings),
        ("/responses", Api::Responses),
    ];
    let (api, base) = SUFFIXES
        .iter()
        .find_map(|(suffix, api)| trimmed.strip_suffix(suffix).map(|base| (*api, base)))?;
    let azure_deployment = base
        .strip_prefix("/openai/deployments/")
        .filter(|d| !d.is_empty() && !d.contains('/'))
        .map(str::to_owned);
    // Only the OpenAI shapes: "", "/v1", "/openai" (some gateways), Azure deployments, and a
    // gateway prefix ending in one of those ("/llm/v1"). Anything else (e.g. "/foo/bar/chat/
    // completions") is still counted: a proxy in front of any OpenAI-compatible server is the
    // point of the filter.
    Some(RouteMatch {
        api,
        route: route.to_owned(),
        azure_deployment,
        base_path: base.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_openai_paths_with_and_without_v1() {
        let cases = [
            ("/v1/chat/completions", Api::ChatCompletions, "/v1"),
            ("/chat/completions", Api::ChatCompletions, ""),
            ("/v1/completions", Api::Completions, "/v1"),
            ("/v1/embeddings", Api::Embeddings, "/v1"),
            ("/embeddings", Api::Embeddings, ""),
            ("/v1/responses", Api::Responses, "/v1"),
            ("/responses?x=1", Api::Responses, ""),
        ];
        for (path, api, base) in cases {
            let m = classify("POST", path).unwrap();
            assert_eq!((m.api, m.base_path.as_str()), (api, base), "{path}");
        }
    }

    #[test]
    fn azure_deployment_paths() {
        let m = classify(
            "POST",
            "/openai/deployments/my-gpt4o/chat/completions?api-version=2024-06-01",
        )
        .unwrap();
        assert_eq!(m.api, Api::ChatCompletions);
        assert_eq!(m.route, "/openai/deployments/my-gpt4o/chat/completions");
        assert_eq!(m.azure_deployment.as_deref(), Some("my-gpt4o"));
        let e = classify("POST", "/openai/deployments/emb/embeddings?api-version=1").unwrap();
        assert_eq!(
            (e.api, e.azure_deployment.as_deref()),
            (Api::Embeddings, Some("emb"))
        );
    }

    #[test]
    fn other_traffic_is_not_classified() {
        assert_eq!(classify("GET", "/v1/chat/completions"), None);
        assert_eq!(classify("POST", "/v1/models"), None);
        assert_eq!(classify("POST", "/v1/chat/completions/x"), None);
    }
}
