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

/// The provider-native APIs whose traffic the filter reads beside the OpenAI-style [`Api`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NativeApi {
    /// Anthropic Messages: `POST …/v1/messages`, and Anthropic models on Vertex AI
    /// (`…/publishers/anthropic/models/{model}:rawPredict` / `:streamRawPredict`).
    AnthropicMessages,
    /// Gemini / Vertex AI `…/models/{model}:generateContent`.
    GeminiGenerateContent,
    /// Gemini / Vertex AI `…/models/{model}:streamGenerateContent`; `sse` when the query asks
    /// for `alt=sse` (else the answer is one JSON array streamed element by element).
    GeminiStreamGenerateContent { sse: bool },
    /// Bedrock `…/model/{modelId}/converse`.
    BedrockConverse,
    /// Bedrock `…/model/{modelId}/converse-stream` (AWS event stream).
    BedrockConverseStream,
    /// Bedrock `…/model/{modelId}/invoke` (the model's own JSON).
    BedrockInvoke,
    /// Bedrock `…/model/{modelId}/invoke-with-response-stream` (AWS event stream of base64 chunks).
    BedrockInvokeStream,
}

impl NativeApi {
    /// Whether the response is a stream by the path alone (Anthropic says so in the body's
    /// `stream`; the response's content type decides for every API anyway).
    pub fn streams(self) -> bool {
        matches!(
            self,
            NativeApi::GeminiStreamGenerateContent { .. }
                | NativeApi::BedrockConverseStream
                | NativeApi::BedrockInvokeStream
        )
    }
}

/// A classified provider-native request path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NativeRoute {
    pub api: NativeApi,
    /// The path without its query: LiteLLM's `route` label.
    pub route: String,
    /// The model named by the path, percent-decoded (Gemini and Vertex AI `models/{model}`,
    /// Bedrock `model/{modelId}`: `anthropic.claude-3-5-sonnet-20240620-v1:0`, an inference
    /// profile `us.anthropic…`, or an ARN). Anthropic's own API names it in the body.
    pub model: Option<String>,
    /// The part of the path before the API's own segments (`/v1beta`, `/v1/projects/p/locations/l/publishers/google`), for `api_base`.
    pub base_path: String,
    /// Vertex AI paths (`…/projects/{project}/locations/{location}/publishers/…`): the location.
    pub vertex_location: Option<String>,
}

/// Classifies `POST` requests to the Anthropic Messages API, Gemini / Vertex AI
/// `generateContent` and `streamGenerateContent`, and Bedrock `converse`, `converse-stream`,
/// `invoke` and `invoke-with-response-stream`, behind any path prefix. Anything else: `None`.
pub fn classify_native(method: &str, path: &str) -> Option<NativeRoute> {
    if !method.eq_ignore_ascii_case("POST") {
        return None;
    }
    let (route, query) = match path.split_once('?') {
        Some((r, q)) => (r, q),
        None => (path, ""),
    };
    let route = route.split('#').next().unwrap_or(route);
    let trimmed = route.trim_end_matches('/');
    let native = |api, model: Option<String>, base: &str| {
        Some(NativeRoute {
            api,
            route: route.to_owned(),
            model,
            base_path: base.to_owned(),
            vertex_location: vertex_location(base),
        })
    };
    if let Some(base) = trimmed.strip_suffix("/v1/messages") {
        return native(NativeApi::AnthropicMessages, None, &format!("{base}/v1"));
    }
    // Bedrock: `/model/{modelId}/{operation}`; an ARN model id may carry raw slashes.
    const BEDROCK: [(&str, NativeApi); 4] = [
        ("/converse-stream", NativeApi::BedrockConverseStream),
        ("/converse", NativeApi::BedrockConverse),
        (
            "/invoke-with-response-stream",
            NativeApi::BedrockInvokeStream,
        ),
        ("/invoke", NativeApi::BedrockInvoke),
    ];
    for (suffix, api) in BEDROCK {
        if let Some(head) = trimmed.strip_suffix(suffix) {
            if let Some(at) = head.find("/model/") {
                let id = &head[at + "/model/".len()..];
                if !id.is_empty() {
                    return native(api, Some(percent_decode(id)), &head[..at]);
                }
            }
        }
    }
    // Gemini and Vertex AI: `…/models/{model}:{method}` (Vertex: `…/publishers/{p}/models/…`).
    let (head, method) = trimmed.rsplit_once(':')?;
    let (base, model) = head.rsplit_once('/')?;
    let base = base
        .strip_suffix("/models")
        .or_else(|| base.strip_suffix("/tunedModels"))?;
    if model.is_empty() {
        return None;
    }
    let model = Some(percent_decode(model));
    let publisher = base
        .rsplit_once("/publishers/")
        .map(|(_, p)| p)
        .filter(|p| !p.contains('/'));
    let api = match (publisher, method) {
        (None | Some("google"), "generateContent") => NativeApi::GeminiGenerateContent,
        (None | Some("google"), "streamGenerateContent") => {
            NativeApi::GeminiStreamGenerateContent {
                sse: query.split('&').any(|kv| kv == "alt=sse"),
            }
        }
        (Some("anthropic"), "rawPredict" | "streamRawPredict") => NativeApi::AnthropicMessages,
        _ => return None,
    };
    native(api, model, base)
}

/// The `{location}` of a Vertex AI `…/projects/{project}/locations/{location}/…` path.
fn vertex_location(base: &str) -> Option<String> {
    let (_, rest) = base.split_once("/locations/")?;
    let location = rest.split('/').next().filter(|l| !l.is_empty())?;
    base.contains("/projects/").then(|| location.to_owned())
}

/// A request the filter reads: an OpenAI-style API, or a provider-native one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Classified {
    OpenAi(RouteMatch),
    Native(NativeRoute),
}

impl From<RouteMatch> for Classified {
    fn from(r: RouteMatch) -> Classified {
        Classified::OpenAi(r)
    }
}

impl From<NativeRoute> for Classified {
    fn from(r: NativeRoute) -> Classified {
        Classified::Native(r)
    }
}

/// Classifies a request: the OpenAI-style paths first ([`classify`]), then the provider-native
/// ones ([`classify_native`]). The two sets do not overlap (a native path never ends in an
/// OpenAI suffix), so the order only decides which check a non-LLM request pays first.
pub fn classify_request(method: &str, path: &str) -> Option<Classified> {
    classify(method, path)
        .map(Classified::OpenAi)
        .or_else(|| classify_native(method, path).map(Classified::Native))
}

/// `%XX` sequences decoded (a path segment as the client encoded it: `v1%3A0` is `v1:0`).
/// Malformed sequences are kept as they are; a result that is not UTF-8 is left encoded.
pub fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let hex = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let pair = bytes
            .get(i + 1)
            .and_then(|&h| hex(h))
            .zip(bytes.get(i + 2).and_then(|&l| hex(l)));
        match (b, pair) {
            (b'%', Some((h, l))) => {
                out.push(h << 4 | l);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
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

    #[test]
    fn anthropic_messages_paths() {
        for (path, base) in [
            ("/v1/messages", "/v1"),
            ("/v1/messages?beta=true", "/v1"),
            ("/anthropic/v1/messages", "/anthropic/v1"),
        ] {
            let m = classify_native("POST", path).unwrap();
            assert_eq!(m.api, NativeApi::AnthropicMessages, "{path}");
            assert_eq!((m.base_path.as_str(), m.model), (base, None));
            assert_eq!(m.route, path.split('?').next().unwrap());
        }
        assert_eq!(classify_native("POST", "/v1/messages/count_tokens"), None);
        assert_eq!(classify_native("GET", "/v1/messages"), None);
        assert_eq!(
            classify("POST", "/v1/messages"),
            None,
            "not an OpenAI-style path"
        );
        let v = classify_native(
            "POST",
            "/v1/projects/p1/locations/us-east5/publishers/anthropic/models/claude-3-5-sonnet-v2@20241022:streamRawPredict",
        )
        .unwrap();
        assert_eq!(v.api, NativeApi::AnthropicMessages);
        assert_eq!(v.model.as_deref(), Some("claude-3-5-sonnet-v2@20241022"));
        assert_eq!(v.vertex_location.as_deref(), Some("us-east5"));
    }

    #[test]
    fn gemini_and_vertex_paths() {
        let g = classify_native("POST", "/v1beta/models/gemini-2.5-flash:generateContent").unwrap();
        assert_eq!(
            (
                g.api,
                g.model.as_deref(),
                g.base_path.as_str(),
                g.vertex_location
            ),
            (
                NativeApi::GeminiGenerateContent,
                Some("gemini-2.5-flash"),
                "/v1beta",
                None
            )
        );
        let s = classify_native(
            "POST",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=AIza",
        )
        .unwrap();
        assert_eq!(s.api, NativeApi::GeminiStreamGenerateContent { sse: true });
        assert_eq!(
            s.route,
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
        );
        let a =
            classify_native("POST", "/v1/models/gemini-2.0-flash:streamGenerateContent").unwrap();
        assert_eq!(a.api, NativeApi::GeminiStreamGenerateContent { sse: false });
        assert!(a.api.streams() && !g.api.streams());
        let v = classify_native(
            "POST",
            "/v1/projects/my-proj/locations/europe-west4/publishers/google/models/gemini-2.5-pro:generateContent",
        )
        .unwrap();
        assert_eq!(v.api, NativeApi::GeminiGenerateContent);
        assert_eq!(v.model.as_deref(), Some("gemini-2.5-pro"));
        assert_eq!(v.vertex_location.as_deref(), Some("europe-west4"));
        assert_eq!(
            v.base_path,
            "/v1/projects/my-proj/locations/europe-west4/publishers/google"
        );
        let t = classify_native("POST", "/v1beta/tunedModels/my-tune:generateContent").unwrap();
        assert_eq!(t.model.as_deref(), Some("my-tune"));
        for other in [
            "/v1beta/models/gemini-2.5-flash:countTokens",
            "/v1beta/models/gemini-2.5-flash:embedContent",
            "/v1beta/models/:generateContent",
            "/v1/projects/p/locations/l/publishers/meta/models/llama:rawPredict",
            "/v1beta/files/abc:download",
        ] {
            assert_eq!(classify_native("POST", other), None, "{other}");
        }
    }

    #[test]
    fn bedrock_paths_with_encoded_model_ids() {
        let cases = [
            (
                "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse",
                NativeApi::BedrockConverse,
                "anthropic.claude-3-5-sonnet-20240620-v1:0",
                "",
            ),
            (
                "/model/us.anthropic.claude-3-7-sonnet-20250219-v1:0/converse-stream",
                NativeApi::BedrockConverseStream,
                "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
                "",
            ),
            (
                "/model/meta.llama3-8b-instruct-v1%3A0/invoke",
                NativeApi::BedrockInvoke,
                "meta.llama3-8b-instruct-v1:0",
                "",
            ),
            (
                "/bedrock/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-response-stream",
                NativeApi::BedrockInvokeStream,
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
                "/bedrock",
            ),
            (
                "/model/arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123/converse",
                NativeApi::BedrockConverse,
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123",
                "",
            ),
        ];
        for (path, api, model, base) in cases {
            let m = classify_native("POST", path).unwrap();
            assert_eq!(
                (m.api, m.model.as_deref(), m.base_path.as_str()),
                (api, Some(model), base),
                "{path}"
            );
            assert_eq!(m.route, path);
        }
        assert_eq!(classify_native("POST", "/model//converse"), None);
        assert_eq!(classify_native("POST", "/foundation-models"), None);
    }

    #[test]
    fn requests_fall_back_to_native_routes() {
        assert!(matches!(
            classify_request("POST", "/v1/chat/completions"),
            Some(Classified::OpenAi(_))
        ));
        for path in [
            "/v1/messages",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-response-stream",
        ] {
            assert!(
                matches!(classify_request("POST", path), Some(Classified::Native(_))),
                "{path}"
            );
        }
        assert_eq!(classify_request("POST", "/v1/models"), None);
        assert_eq!(classify_request("GET", "/v1/messages"), None);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%3Ab%2fc"), "a:b/c");
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("bad%zz%4"), "bad%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
        assert_eq!(percent_decode("%FF"), "%FF", "not UTF-8: left encoded");
    }
}
