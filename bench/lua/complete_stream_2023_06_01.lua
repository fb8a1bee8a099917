-- Streaming legacy Text Completion under 2023-06-01 (the current stream shape).
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["x-api-key"] = "sk-ant-bench-key"
wrk.headers["anthropic-version"] = "2023-06-01"
wrk.body = [[{"model":"claude-2.1","max_tokens_to_sample":50,"stream":true,"prompt":"\n\nHuman: Write a detailed essay about tide pools\n\nAssistant:"}]]
