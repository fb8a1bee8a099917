-- Non-streaming OpenAI chat completion to Dateline, as the OpenAI SDK sends it: the same
-- conversation and max_tokens as messages.lua.
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer sk-ant-bench-key"
wrk.body = [[{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Hello, tell me about tide pools"}],"max_tokens":16}]]
