-- The same streaming Text Completion under 2023-01-01: every event is migrated
-- back to the old shape (cumulative text, data-only events, [DONE]).
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["x-api-key"] = "sk-ant-bench-key"
wrk.headers["anthropic-version"] = "2023-01-01"
wrk.body = [[{"model":"claude-2.1","max_tokens_to_sample":50,"stream":true,"prompt":"\n\nHuman: Write a detailed essay about tide pools\n\nAssistant:"}]]
