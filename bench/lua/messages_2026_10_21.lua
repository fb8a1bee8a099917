-- As messages.lua, under 2026-10-21 (what today's SDKs send): the cost of that version's rules.
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["x-api-key"] = "sk-ant-bench-key"
wrk.headers["anthropic-version"] = "2026-10-21"
wrk.body = [[{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"Hello, tell me about tide pools"}]}]]
