-- Streaming Messages request: 50 tokens of an essay (the reply runs to max_tokens).
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["x-api-key"] = "sk-ant-bench-key"
wrk.headers["anthropic-version"] = "2023-06-01"
wrk.body = [[{"model":"claude-sonnet-4-5","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"Write a detailed essay about tide pools"}]}]]
