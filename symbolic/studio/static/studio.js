// The studio page: plain JS over the JSON API (no framework, nothing fetched from elsewhere).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { runs: [], uploads: {} };  // uploads: input id -> upload id
const FIELDS = ["num", "max_tokens", "temperature", "top_p", "top_k", "seed", "key",
  "pitch_range", "bars", "grid", "max_polyphony", "repetition_penalty", "beam", "programs",
  "tempo", "time_signature", "chords", "infill_bars"];

function showError(message) {
  $("error").textContent = message || "";
}

function showStatus(message) {
  $("status").textContent = message || "";
}

async function call(url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (err) {
    throw new Error("the studio does not answer: " + err.message);
  }
  let body;
  try {
    body = await response.json();
  } catch (err) {
    throw new Error(`${url}: HTTP ${response.status}, not JSON`);
  }
  if (!response.ok || !body.ok) {
    throw new Error(body.error || `${url}: HTTP ${response.status}`);
  }
  return body;
}

function postJSON(url, data) {
  return call(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(data),
  });
}

function currentRun() {
  return state.runs.find((run) => run.name === $("run").value) || state.runs[0];
}

function showRun() {
  const run = currentRun();
  if (!run) return;
  const words = [run.model];
  if (run.view) words.push(`${run.view} view`);
  if (run.infill) words.push("trained for infilling");
  $("run-info").textContent = words.join(", ");
  const show = (selector, visible) => document.querySelectorAll(selector)
    .forEach((el) => el.classList.toggle("hidden", !visible));
  show(".vae-only", run.kind === "vae");
  show(".transcriber-only", run.kind === "transcriber");
  show(".chords-only", Boolean(run.chords));
  $("generate").disabled = run.kind === "transcriber";
}

async function loadRuns() {
  const body = await call("/api/runs");
  state.runs = body.runs;
  $("run").innerHTML = "";
  for (const run of body.runs) {
    const option = document.createElement("option");
    option.value = run.name;
    option.textContent = `${run.name} (${run.kind})`;
    $("run").appendChild(option);
  }
  showRun();
  showStatus(body.audio ? "ready" : "ready (no FluidSynth: no audio previews)");
}

async function uploadFrom(inputId) {
  const input = $(inputId);
  delete state.uploads[inputId];
  if (!input.files.length) return null;
  const form = new FormData();
  form.append("file", input.files[0]);
  const body = await call("/api/upload", { method: "POST", body: form });
  state.uploads[inputId] = body.id;
  return body;
}

function onUpload(inputId) {
  return async () => {
    showError("");
    try {
      const body = await uploadFrom(inputId);
      if (body) showStatus(`uploaded ${body.name}: ${body.notes ?? "?"} notes`);
    } catch (err) {
      showError(err.message);
    }
  };
}

function settings() {
  const data = { run: currentRun().name, mode: $("mode").value, monophonic: $("monophonic").checked };
  for (const name of FIELDS) {
    const value = $(name).value.trim();
    if (value !== "") data[name] = $(name).type === "number" ? Number(value) : value;
  }
  if (data.mode !== "sample") data.primer = state.uploads["primer-file"] || "";
  return data;
}

function card(sample) {
  const div = document.createElement("div");
  div.className = "sample";
  div.dataset.id = sample.id;
  const title = document.createElement("div");
  title.className = "row";
  title.innerHTML = `<strong></strong><span>${sample.notes} notes</span>`;
  title.querySelector("strong").textContent = sample.name;
  div.appendChild(title);
  if (sample.png_url) {
    const img = document.createElement("img");
    img.className = "pianoroll";
    img.alt = `piano roll of ${sample.name}`;
    img.src = sample.png_url;
    div.appendChild(img);
  }
  if (sample.wav_url) {
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.preload = "metadata";
    audio.src = sample.wav_url;
    div.appendChild(audio);
  }
  for (const warning of sample.warnings || []) {
    const note = document.createElement("p");
    note.className = "warning";
    note.textContent = warning;
    div.appendChild(note);
  }
  const row = document.createElement("div");
  row.className = "row";
  const link = document.createElement("a");
  link.className = "midi";
  link.href = sample.mid_url;
  link.download = `${sample.id}.mid`;
  link.textContent = "download MIDI";
  row.appendChild(link);
  const keep = document.createElement("button");
  keep.className = "keep";
  keep.textContent = "keep";
  keep.onclick = async () => {
    showError("");
    try {
      const body = await postJSON("/api/keep", { id: sample.id });
      div.classList.add("kept");
      keep.textContent = "kept";
      showStatus(`kept: ${body.files.join(", ")}`);
    } catch (err) {
      showError(err.message);
    }
  };
  row.appendChild(keep);
  div.appendChild(row);
  return div;
}

function showSamples(body) {
  const box = $("samples");
  box.innerHTML = "";
  for (const sample of body.samples) box.appendChild(card(sample));
  showStatus(`${body.samples.length} samples in ${body.seconds} s`);
}

function busy(button, work) {
  return async () => {
    showError("");
    showStatus("working...");
    button.disabled = true;
    try {
      showSamples(await work());
    } catch (err) {
      showStatus("");
      showError(err.message);
    } finally {
      button.disabled = false;
    }
  };
}

$("run").addEventListener("change", showRun);
$("primer-file").addEventListener("change", onUpload("primer-file"));
$("interp-a").addEventListener("change", onUpload("interp-a"));
$("interp-b").addEventListener("change", onUpload("interp-b"));
$("audio-file").addEventListener("change", onUpload("audio-file"));
$("generate").addEventListener("click", busy($("generate"), () => {
  const data = settings();
  if (data.mode !== "sample" && !data.primer) {
    throw new Error("choose a primer MIDI file first (it uploads when chosen)");
  }
  return postJSON("/api/generate", data);
}));
$("interpolate").addEventListener("click", busy($("interpolate"), () => postJSON(
  "/api/interpolate", { run: currentRun().name, a: state.uploads["interp-a"] || "",
    b: state.uploads["interp-b"] || "", steps: Number($("steps").value) })));
$("transcribe").addEventListener("click", busy($("transcribe"), () => postJSON(
  "/api/transcribe", { run: currentRun().name, audio: state.uploads["audio-file"] || "" })));

loadRuns().catch((err) => showError(err.message));
