"use strict";
// The demo page: fills the choices from /api/tasks, starts runs (POST /api/run) and polls
// the job (GET /api/jobs/ID) until its result or its one-line error comes.

const $ = (id) => document.getElementById(id);
const POLL_MS = 500;
const MAX_RECORD_S = 10;
let tasks = {};
let polling = null;

function option(select, value, text) {
  const item = document.createElement("option");
  item.value = value;
  item.textContent = text;
  select.appendChild(item);
}

function bytes(n) {
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(2) + " MiB";
  if (n >= 1024) return (n / 1024).toFixed(1) + " KiB";
  return n + " B";
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function loadTasks() {
  const response = await fetch("/api/tasks");
  const data = await response.json();
  for (const task of data.tasks) {
    tasks[task.name] = task;
    option($("task"), task.name, `${task.title} (${task.kind})`);
  }
  for (const target of data.targets) option($("target"), target, target);
  data.levels.forEach((fraction, index) =>
    option($("level"), index, `${index}: ${fraction === 1 ? "uncompressed" : "MACs <= " + fraction * 100 + "%"}`));
  if (!data.tasks.length) showError("No tasks: no task.json under the examples folder.");
  taskChanged();
  targetChanged();
}

function currentTask() { return tasks[$("task").value]; }

function taskChanged() {
  const task = currentTask();
  if (!task) return;
  $("about").textContent = task.about;
  const sample = $("sample");
  sample.innerHTML = "";
  for (const name of task.samples) option(sample, name, name);
  const audio = task.kind !== "image";
  $("file").accept = audio ? ".wav,audio/wav" : ".png,.jpg,.jpeg,image/png,image/jpeg";
  $("upload-note").textContent = audio
    ? "A WAV file, any rate (resampled to 16 kHz), mono or stereo, at most 30 s."
    : `A PNG or JPEG: made grayscale and resized to ${task.size.join("x")}, scaled to [0, 1]. ` +
      "Digits are light strokes on a dark background, like the data.";
  $("claim-row").hidden = task.kind !== "speaker-auth";
  $("claim").innerHTML = "";
  for (const speaker of task.speakers || []) option($("claim"), speaker, speaker);
  $("mic-row").hidden = !audio;
  $("mic-note").textContent = navigator.mediaDevices && navigator.mediaDevices.getUserMedia
    ? `Records up to ${MAX_RECORD_S} s; click again to stop.`
    : "This browser gives no microphone here (it needs https or localhost).";
  sampleChanged();
}

function sampleChanged() {
  const task = currentTask();
  const name = $("sample").value;
  if (!task || !name) return;
  if (task.kind === "image") {
    $("player").hidden = true;
    drawImage(task.pixels[Number(name.split("/")[1])]);
  } else {
    $("preview").hidden = true;
    $("player").hidden = false;
    $("player").src = `/api/tasks/${encodeURIComponent(task.name)}/samples/` +
      name.split("/").map(encodeURIComponent).join("/");
    if (task.kind === "speaker-auth") $("claim").value = name.split("/")[0];
  }
}

function drawImage(pixels) {
  const canvas = $("preview");
  canvas.hidden = false;
  const context = canvas.getContext("2d");
  const h = pixels.length, w = pixels[0].length;
  const image = context.createImageData(w, h);
  pixels.flat().forEach((v, i) => {
    const g = Math.round(255 * Math.min(1, Math.max(0, v)));
    image.data.set([g, g, g, 255], 4 * i);
  });
  const scratch = document.createElement("canvas");
  scratch.width = w; scratch.height = h;
  scratch.getContext("2d").putImageData(image, 0, 0);
  context.imageSmoothingEnabled = false;
  context.drawImage(scratch, 0, 0, canvas.width, canvas.height);
}

function targetChanged() {
  $("target-note").textContent = $("target").value === "host"
    ? "Runs natively on this machine."
    : "Cross-compiled; runs here under qemu, so its times are not the device's.";
}

function form() {
  const data = new FormData();
  for (const field of ["task", "target", "level", "goal"]) data.append(field, $(field).value);
  if (currentTask().kind === "speaker-auth") data.append("claim", $("claim").value);
  return data;
}

async function start(data) {
  showError("");
  $("result").hidden = true;
  $("log").textContent = "";
  $("status").textContent = "Starting...";
  let response, body;
  try {
    response = await fetch("/api/run", { method: "POST", body: data });
    body = await response.json();
  } catch (error) {
    $("status").textContent = "Not started.";
    showError(`The server did not answer: ${error}`);
    return;
  }
  if (!response.ok) {
    $("status").textContent = "Not started.";
    showError(body.error);
    return;
  }
  $("status").textContent = `Job ${body.job}: ${body.title}`;
  poll(body.job, 0);
}

function poll(job, since) {
  clearTimeout(polling);
  polling = setTimeout(async () => {
    let state;
    try {
      const response = await fetch(`/api/jobs/${job}?since=${since}`);
      state = await response.json();
      if (!response.ok) throw new Error(state.error);
    } catch (error) {
      showError(`Lost the job: ${error.message || error}`);
      return;
    }
    if (state.lines.length) $("log").textContent += state.lines.join("\n") + "\n";
    $("log").scrollTop = $("log").scrollHeight;
    $("status").textContent = `Job ${job} ${state.state} (${state.seconds} s): ${state.title}`;
    if (state.state === "done") showResult(state.result);
    else if (state.state === "failed") showError(state.error);
    else poll(job, state.line_count);
  }, POLL_MS);
}

function row(table, cells, header) {
  const tr = table.insertRow();
  cells.forEach((cell, i) => {
    const td = document.createElement(header ? "th" : "td");
    if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell;
    if (!header && i > 0 && typeof cell === "string" && /^[\d.,]+( ms| [KM]?i?B)?$/.test(cell)) td.className = "num";
    tr.appendChild(td);
  });
  return tr;
}

function showResult(result) {
  $("result").hidden = false;
  $("emulated").hidden = !result.emulated;
  const numbers = $("numbers");
  numbers.innerHTML = "";
  if (result.answer) {
    showAnswer(result);
    row(numbers, ["latency", `${result.latency_ms.toFixed(3)} ms`, `median of ${result.latency_runs} runs` +
      (result.answer.windows ? ", one window" : "") + (result.emulated ? ", emulated" : "")]).id = "latency";
  } else {
    $("answer").innerHTML = "";
    const note = document.createElement("p");
    note.className = "error";
    note.id = "not-run";
    note.textContent = result.not_run;
    $("answer").appendChild(note);
  }
  const memory = result.memory;
  row(numbers, ["memory", `${bytes(memory.arena_bytes + memory.weights_bytes + memory.code_bytes)}`,
    `arena ${bytes(memory.arena_bytes)}, weights read ${bytes(memory.weights_bytes)} ` +
    `(blob ${bytes(memory.weights_blob_bytes)}), code ${bytes(memory.code_bytes)}`]).id = "memory";
  row(numbers, ["MACs", result.macs.toLocaleString("en"),
    `${(100 * result.macs / result.macs_full).toFixed(1)}% of ${result.macs_full.toLocaleString("en")} (${result.budget})`]).id = "macs";
  row(numbers, ["target", result.target, `level ${result.level}`]);
  drawPlan(result.plan);
  const ranks = $("ranks");
  ranks.innerHTML = "";
  row(ranks, ["layer", "form", "rank", "MACs before", "MACs after"], true);
  for (const layer of result.ranks) {
    row(ranks, [layer.name, layer.form || "kept", layer.rank ? `${layer.rank}/${layer.full_rank}` : "full",
      layer.macs_before.toLocaleString("en"), layer.macs_after.toLocaleString("en")]);
  }
  if (!result.ranks.length) row(ranks, ["(no layer compressed at this level)"]);
}

function showAnswer(result) {
  const answer = $("answer");
  answer.innerHTML = "";
  const lead = document.createElement("p");
  lead.className = "verdict";
  if (result.kind === "speaker-auth") {
    const a = result.answer;
    lead.textContent = `${a.accepted ? "Accepted" : "Rejected"}: ${a.claim}`;
    lead.classList.add(a.accepted ? "accepted" : "rejected");
    answer.appendChild(lead);
    const detail = document.createElement("p");
    detail.textContent = `score ${a.score.toFixed(4)} ${a.accepted ? ">=" : "<"} threshold ${a.threshold}` +
      ` (cosine over ${a.windows} windows of ${result.input})`;
    answer.appendChild(detail);
    return;
  }
  lead.textContent = `${result.answer.top[0].label}`;
  answer.appendChild(lead);
  const table = document.createElement("table");
  table.id = "top";
  for (const entry of result.answer.top) {
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${Math.round(entry.score * 200)}px`;
    row(table, [entry.label, entry.score.toFixed(4), bar]);
  }
  answer.appendChild(table);
  const note = document.createElement("p");
  note.className = "note";
  note.textContent = result.answer.windows
    ? `softmax of the mean logits over ${result.answer.windows} windows of ${result.input}`
    : `softmax of the logits on ${result.input}`;
  answer.appendChild(note);
}

function svg(name, attributes, text) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

function drawPlan(plan) {
  const box = $("timeline");
  box.innerHTML = "";
  if (!plan) {
    box.textContent = "No plan: goal none puts every layer on the CPU, in order.";
    return;
  }
  const processors = [...new Set(plan.blocks.map((b) => b.processor))];
  const end = Math.max(...plan.blocks.map((b) => b.end_ms), 1e-9);
  const left = 70, width = 760, lane = 34, top = 10;
  const picture = svg("svg", { width: left + width + 20, height: top + lane * processors.length + 30, id: "plan-svg" });
  processors.forEach((processor, i) => {
    picture.appendChild(svg("text", { x: 4, y: top + lane * i + 21, "font-size": 13 }, processor));
  });
  const colours = { conv: "#3a7bd5", dense: "#d5733a", pool: "#52a36b", elementwise: "#9b59b6" };
  for (const block of plan.blocks) {
    const lane_index = processors.indexOf(block.processor);
    const x = left + width * block.start_ms / end;
    const w = Math.max(1, width * (block.end_ms - block.start_ms) / end);
    const rect = svg("rect", { x, y: top + lane * lane_index, width: w, height: lane - 6,
      fill: colours[block.kind] || "#888", stroke: "#fff" });
    rect.appendChild(svg("title", {}, `${block.name} (${block.kind}) on ${block.processor}: ` +
      `${block.start_ms.toFixed(4)}-${block.end_ms.toFixed(4)} ms, ${block.macs.toLocaleString("en")} MACs`));
    picture.appendChild(rect);
  }
  const axis = top + lane * processors.length + 16;
  picture.appendChild(svg("text", { x: left, y: axis, "font-size": 12 }, "0 ms"));
  picture.appendChild(svg("text", { x: left + width - 80, y: axis, "font-size": 12 }, `${end.toFixed(3)} ms`));
  box.appendChild(picture);
  const note = document.createElement("p");
  note.className = "note";
  const p = plan.predicted;
  note.textContent = `predicted ${p.latency_ms.toFixed(3)} ms, ${p.energy_mj.toFixed(3)} mJ ` +
    `(goal ${plan.goal.objective}, ${plan.solver.method}; ${plan.blocks.length} blocks, hover for each)`;
  box.appendChild(note);
}

function runSample() {
  const data = form();
  data.append("sample", $("sample").value);
  start(data);
}

function runUpload() {
  const file = $("file").files[0];
  if (!file) { showError("Choose a file to upload first."); return; }
  const data = form();
  data.append("file", file, file.name);
  start(data);
}

// Microphone: Web Audio samples collected while recording, encoded as 16-bit PCM WAV.
let recording = null;

function encodeWav(chunks, rate) {
  const length = chunks.reduce((n, c) => n + c.length, 0);
  const view = new DataView(new ArrayBuffer(44 + 2 * length));
  const text = (offset, s) => [...s].forEach((ch, i) => view.setUint8(offset + i, ch.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + 2 * length, true); text(8, "WAVE");
  text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, 2 * rate, true); view.setUint16(32, 2, true);
  view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, 2 * length, true);
  let offset = 44;
  for (const chunk of chunks) {
    for (const v of chunk) { view.setInt16(offset, Math.max(-1, Math.min(1, v)) * 32767, true); offset += 2; }
  }
  return new Blob([view], { type: "audio/wav" });
}

async function toggleRecording() {
  if (recording) { stopRecording(); return; }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    showError(`No microphone: ${error.message || error}`);
    return;
  }
  const context = new AudioContext();
  const source = context.createMediaStreamSource(stream);
  const processor = context.createScriptProcessor(4096, 1, 1);
  const chunks = [];
  processor.onaudioprocess = (event) => chunks.push(new Float32Array(event.inputBuffer.getChannelData(0)));
  source.connect(processor);
  processor.connect(context.destination);
  recording = { stream, context, processor, chunks, timer: setTimeout(stopRecording, MAX_RECORD_S * 1000) };
  $("record").textContent = "Stop and run";
}

function stopRecording() {
  const r = recording;
  recording = null;
  clearTimeout(r.timer);
  r.processor.disconnect();
  r.stream.getTracks().forEach((t) => t.stop());
  const wav = encodeWav(r.chunks, r.context.sampleRate);
  r.context.close();
  $("record").textContent = "Record from the microphone";
  const data = form();
  data.append("file", wav, "microphone.wav");
  start(data);
}

$("task").addEventListener("change", taskChanged);
$("sample").addEventListener("change", sampleChanged);
$("target").addEventListener("change", targetChanged);
$("run-sample").addEventListener("click", runSample);
$("run-upload").addEventListener("click", runUpload);
$("record").addEventListener("click", toggleRecording);
loadTasks().catch((error) => showError(`Could not load the tasks: ${error.message || error}`));
