// Drives responsa with the official openai-node client and prints what each step saw, as one
// JSON object on stdout; tests/api/test_node_client.py starts the server and checks the report.
// Usage: node drive.mjs BASE_URL MODEL
import OpenAI from "openai";

const [baseURL, model] = process.argv.slice(2);
const client = new OpenAI({ apiKey: "unused", baseURL, maxRetries: 0 });
const weather = {
  type: "function",
  name: "get_weather",
  description: "Get the weather for a city.",
  parameters: {
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
    additionalProperties: false,
  },
  strict: true,
};
const report = {};

async function errorOf(promise) {
  try {
    await promise;
    return null;
  } catch (error) {
    return { class: error.constructor.name, status: error.status, code: error.code ?? null,
             param: error.param ?? null, type: error.type ?? null };
  }
}

async function collect(iterable) {
  const seen = [];
  for await (const item of iterable) seen.push(item);
  return seen;
}

// A plain create, then a continuation of it.
const first = await client.responses.create({ model, input: "Say hello.", max_output_tokens: 16 });
const second = await client.responses.create({
  model, input: "Again.", previous_response_id: first.id, max_output_tokens: 16 });
report.create = { object: first.object, status: first.status, text: first.output_text,
                  previous: second.previous_response_id, usage: first.usage };

// The stream helper: typed events, then the final response.
const stream = client.responses.stream({ model, input: "Stream please.", max_output_tokens: 16 });
const streamedTypes = [];
stream.on("event", (event) => streamedTypes.push(event.type));
const streamedFinal = await stream.finalResponse();
report.stream = { types: streamedTypes, final: { id: streamedFinal.id, status: streamedFinal.status,
                                                 text: streamedFinal.output_text } };

// `stream: true` on create, read raw; then the stored log replayed from the middle.
const raw = await collect(await client.responses.create({
  model, input: "Raw stream.", stream: true, max_output_tokens: 16 }));
const rawId = raw[0].response.id;
const replay = await collect(await client.responses.retrieve(rawId, { stream: true,
                                                                    starting_after: 2 }));
report.raw = { sequence: raw.map((event) => event.sequence_number),
               types: raw.map((event) => event.type),
               replayed: replay.map((event) => event.sequence_number) };

// A function call, answered with its output on the next turn.
const called = await client.responses.create({
  model, input: "Weather in Paris?", tools: [weather], tool_choice: "required" });
const call = called.output.find((item) => item.type === "function_call");
const answered = await client.responses.create({
  model, previous_response_id: called.id, tools: [weather], max_output_tokens: 16,
  input: [{ type: "function_call_output", call_id: call.call_id, output: '{"sky": "clear"}' }] });
report.tools = { call: { type: call.type, name: call.name, arguments: JSON.parse(call.arguments) },
                 answered: answered.status };

// Stored state: retrieve, list input items (auto-paging), count tokens, delete.
const retrieved = await client.responses.retrieve(second.id);
const items = await collect(client.responses.inputItems.list(answered.id, { limit: 1 }));
const counted = await client.responses.inputTokens.count({ model, input: "Count me." });
const deleted = await client.responses.delete(first.id);
report.state = { retrieved: retrieved.id === second.id, items: items.map((item) => item.type),
                 counted, deleted: deleted ?? null,
                 gone: await errorOf(client.responses.retrieve(first.id)) };

// Conversations: create with items, add, list, answer in it, delete.
const conversation = await client.conversations.create({
  metadata: { topic: "demo" },
  items: [{ type: "message", role: "user", content: "Remember: blue." }] });
await client.conversations.items.create(conversation.id, {
  items: [{ type: "message", role: "user", content: "And green." }] });
const inConversation = await client.responses.create({
  model, conversation: conversation.id, input: "Colors?", max_output_tokens: 16 });
const listed = await collect(client.conversations.items.list(conversation.id, { order: "asc" }));
const updated = await client.conversations.update(conversation.id, { metadata: { topic: "x" } });
const removed = await client.conversations.delete(conversation.id);
report.conversation = { status: inConversation.status,
                        conversation: inConversation.conversation,
                        items: listed.map((item) => [item.type, item.role ?? null]),
                        metadata: updated.metadata, deleted: removed.deleted };

// Errors carry the envelope's fields on the client's error classes.
report.errors = {
  temperature: await errorOf(client.responses.create({ model, input: "x", temperature: 5 })),
  previous: await errorOf(client.responses.create({
    model, input: "x", previous_response_id: "resp_missing" })),
};

process.stdout.write(JSON.stringify(report));
