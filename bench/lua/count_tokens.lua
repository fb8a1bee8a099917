-- Token counting for a short conversation.
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["x-api-key"] = "sk-ant-bench-key"
wrk.headers["anthropic-version"] = "2023-06-01"
wrk.body = [[{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Hello, tell me about tide pools"}]}]]
