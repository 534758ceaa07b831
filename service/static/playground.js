// The playground's wiring: models from /v1/models, the digits pad and drop zone, surnames as you type,
// generated forms for every other task kind, and the API key when the server asks for one.

import { ApiError, LatestOnly, callApi, storeKey, storedKey } from "./api.js";
import { DrawingPad } from "./pad.js";
import { buildSchemaForm } from "./schema-form.js";
import {
  accuracyText,
  clearPreview,
  renderBars,
  renderCard,
  renderPreview,
  renderTiming,
  showError,
} from "./views.js";

const IMAGE_TASK = "image-classification";
const TEXT_TASK = "text-classification";
const DIGITS_TOP_K = 10;
const NAMES_TOP_K = 5;
const $ = (id) => document.getElementById(id);

const state = { models: [] };

// ---- models, status line, API key ---------------------------------------------------------------

function setStatus(text, isError = false) {
  const status = $("service-status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function needKey(error) {
  $("key-form").classList.add("needed");
  setStatus(`${error.message} (HTTP ${error.status}): enter this server's API key above.`, true);
}

// Every error of a prediction is shown where its answer would be; a 401 also asks for the key.
function reportError(line, error) {
  showError(line, error);
  if (error instanceof ApiError && error.status === 401) {
    needKey(error);
  }
}

function accuracyOf(model) {
  const value = model.metrics ? model.metrics.test_accuracy : undefined;
  return typeof value === "number" ? value : -1;
}

// Options per model, the most accurate ready one chosen first (the server's own default).
function fillSelect(select, models, previous) {
  const options = models.map((model) => {
    const accuracy = accuracyText(model.metrics);
    const suffix = accuracy ? `, ${accuracy}` : "";
    const option = new Option(`${model.name} v${model.version ?? "?"}${suffix}`, model.name);
    option.disabled = model.status !== "ready";
    return option;
  });
  select.replaceChildren(...options);
  select.disabled = models.length === 0;
  if (previous && models.some((m) => m.name === previous)) {
    select.value = previous;
    return;
  }
  const ready = models.filter((m) => m.status === "ready");
  if (ready.length) {
    select.value = ready.reduce((best, m) => (accuracyOf(m) > accuracyOf(best) ? m : best)).name;
  }
}

function modelNamed(name) {
  return state.models.find((model) => model.name === name);
}

async function loadModels() {
  setStatus("Loading the models…");
  try {
    const result = await callApi("/v1/models");
    state.models = result.body.models;
  } catch (error) {
    state.models = [];
    if (error.status === 401) {
      needKey(error);
    } else {
      setStatus(`Could not list the models: ${error.message}`, true);
    }
    return false;
  }
  $("key-form").classList.remove("needed");
  const ready = state.models.filter((m) => m.status === "ready");
  const device = state.models.length ? state.models[0].device : "";
  setStatus(`${ready.length} of ${state.models.length} models ready${device ? ` on ${device}` : ""}.`);
  fillSelect($("digits-model"), state.models.filter((m) => m.task === IMAGE_TASK), $("digits-model").value);
  fillSelect($("names-model"), state.models.filter((m) => m.task === TEXT_TASK), $("names-model").value);
  setupSchemaModels();
  renderCard($("digits-card"), modelNamed($("digits-model").value));
  renderCard($("names-card"), modelNamed($("names-model").value));
  return true;
}

function setupKeyForm() {
  const input = $("api-key");
  input.value = storedKey();
  $("key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    storeKey(input.value.trim());
    if (await loadModels()) {
      digitsRequests.schedule();
      namesRequests.schedule();
    }
  });
  $("key-forget").addEventListener("click", () => {
    input.value = "";
    storeKey("");
    loadModels();
  });
}

// ---- digits --------------------------------------------------------------------------------------

const bars = $("digits-bars");

function markDigits(stateName) {
  bars.dataset.state = stateName; // read by the browser tests: "done" once the newest input is answered
}

function showDigits(result, source) {
  const predictions = result.body.predictions;
  const first = predictions[0];
  renderBars(bars, first.top_k.map((s) => ({ label: s.digit, probability: s.probability })));
  $("digits-source").textContent = source(predictions);
  renderTiming($("digits-timing"), result);
  const preview = $("preview");
  const shown = Array.isArray(first.preprocessed);
  if (shown) {
    renderPreview(preview, first.preprocessed);
    $("preview-note").textContent = "The 28x28 grey image after cropping, scaling and centring.";
  } else {
    clearPreview(preview);
    $("preview-note").textContent = "This server does not return the pre-processed image (return_preprocessed).";
  }
  preview.hidden = !shown;
  preview.dataset.shown = String(shown);
}

function clearDigits(message) {
  bars.replaceChildren();
  $("digits-source").textContent = message;
  $("digits-timing").textContent = "";
  clearPreview($("preview"));
  $("preview").hidden = true;
  $("preview").dataset.shown = "false";
  showError($("digits-error"), null);
}

// The upload route takes any image file and the pad's PNG alike; return_preprocessed is a query flag.
function uploadUrl() {
  const query = new URLSearchParams({ top_k: String(DIGITS_TOP_K), return_preprocessed: "true" });
  const model = $("digits-model").value;
  if (model) {
    query.set("model", model);
  }
  return `/v1/digits/predict/upload?${query}`;
}

async function predictFiles(files) {
  const form = new FormData();
  for (const file of files) {
    form.append("files", file, file.name || "drawing.png");
  }
  return callApi(uploadUrl(), { method: "POST", form });
}

async function predictDrawing() {
  if (pad.empty) {
    clearDigits("Draw a digit to see what the model thinks.");
    return;
  }
  try {
    const png = await pad.png();
    const result = await predictFiles([new File([png], "drawing.png", { type: "image/png" })]);
    showError($("digits-error"), null);
    showDigits(result, () => "Your drawing:");
  } catch (error) {
    reportError($("digits-error"), error);
    bars.replaceChildren();
  }
}

const digitsRequests = new LatestOnly(predictDrawing, 120, () => markDigits("done"));

const pad = new DrawingPad($("pad"), {
  onChange: () => {
    markDigits("pending");
    digitsRequests.schedule();
  },
});

async function predictDropped(files) {
  if (!files.length) {
    return;
  }
  markDigits("pending");
  try {
    const result = await predictFiles(files);
    showError($("digits-error"), null);
    const names = files.map((file) => file.name);
    showDigits(result, (predictions) =>
      predictions.map((p, i) => `${names[i]}: ${p.digit} (${(p.probability * 100).toFixed(1)}%)`).join("; "),
    );
  } catch (error) {
    reportError($("digits-error"), error);
    bars.replaceChildren();
  }
  markDigits("done");
}

function setupDigits() {
  $("pad-undo").addEventListener("click", () => pad.undo());
  $("pad-clear").addEventListener("click", () => pad.clear());
  $("digits-model").addEventListener("change", () => {
    renderCard($("digits-card"), modelNamed($("digits-model").value));
    markDigits("pending");
    digitsRequests.schedule();
  });
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    predictDropped([...event.dataTransfer.files]);
  });
  const picker = $("digit-files");
  picker.addEventListener("change", () => {
    predictDropped([...picker.files]); // a copy: emptying the picker empties its live FileList
    picker.value = "";
  });
  clearDigits("Draw a digit to see what the model thinks.");
  markDigits("done");
}

// ---- surnames ------------------------------------------------------------------------------------

const nameInput = $("name-input");
const nameBars = $("names-bars");

async function predictName() {
  const name = nameInput.value.trim();
  if (!name) {
    nameBars.replaceChildren();
    $("name-normalized").textContent = "–";
    showError($("names-error"), null);
    return;
  }
  const json = { names: [name], top_k: NAMES_TOP_K };
  if ($("names-model").value) {
    json.model = $("names-model").value;
  }
  try {
    const result = await callApi("/v1/names/predict", { method: "POST", json });
    const first = result.body.predictions[0];
    showError($("names-error"), null);
    renderBars(nameBars, first.top_k.map((s) => ({ label: s.country, probability: s.probability })));
    $("name-normalized").textContent = first.normalized;
    renderTiming($("names-timing"), result);
  } catch (error) {
    reportError($("names-error"), error);
    nameBars.replaceChildren();
    $("name-normalized").textContent = "–";
  }
}

const namesRequests = new LatestOnly(predictName, 200, () => {
  nameBars.dataset.state = "done";
});

function setupNames() {
  const changed = () => {
    nameBars.dataset.state = "pending";
    namesRequests.schedule();
  };
  nameInput.addEventListener("input", changed);
  $("names-model").addEventListener("change", () => {
    renderCard($("names-card"), modelNamed($("names-model").value));
    changed();
  });
  nameBars.dataset.state = "done";
}

// ---- any task kind, from its request schema ------------------------------------------------------

let readSchemaForm = null;

function setupSchemaModels() {
  const select = $("other-model");
  const withSchema = state.models.filter((m) => m.request_schema);
  $("other-picker").hidden = withSchema.length === 0;
  const previous = select.value;
  fillSelect(select, withSchema, previous);
  if (!previous) {
    // A task kind without a panel of its own first: that is what this form is for.
    const other = withSchema.find((m) => m.task !== IMAGE_TASK && m.task !== TEXT_TASK);
    if (other) select.value = other.name;
  }
  buildOtherForm();
}

function buildOtherForm() {
  const form = $("other-form");
  form.replaceChildren();
  $("other-result").textContent = "";
  $("other-bars").replaceChildren();
  showError($("other-error"), null);
  const model = modelNamed($("other-model").value);
  if (!model || !model.request_schema) {
    readSchemaForm = null;
    const note = document.createElement("p");
    note.className = "hint";
    note.textContent = "This server publishes no request schema for its models (request_schema in /v1/models).";
    form.append(note);
    return;
  }
  readSchemaForm = buildSchemaForm(form, model.request_schema, model.request_example, { skip: ["model"] });
}

// A ranked list in any prediction ({label-ish, probability} items) is drawn as bars as well.
function rankedItems(body) {
  const first = body && Array.isArray(body.predictions) ? body.predictions[0] : null;
  if (!first || !Array.isArray(first.top_k)) {
    return [];
  }
  return first.top_k
    .filter((item) => item && typeof item.probability === "number")
    .map((item) => {
      const labelKey = Object.keys(item).find((key) => key !== "probability");
      return { label: labelKey ? item[labelKey] : "?", probability: item.probability };
    });
}

async function submitOtherForm(event) {
  event.preventDefault();
  const form = $("other-form");
  if (!readSchemaForm) {
    return;
  }
  form.dataset.state = "pending";
  try {
    const body = readSchemaForm();
    const name = encodeURIComponent($("other-model").value);
    const result = await callApi(`/v1/models/${name}/predict`, { method: "POST", json: body });
    showError($("other-error"), null);
    $("other-result").textContent = JSON.stringify(result.body, null, 2);
    renderBars($("other-bars"), rankedItems(result.body));
    renderTiming($("other-timing"), result);
  } catch (error) {
    reportError($("other-error"), error);
    $("other-result").textContent = "";
    $("other-bars").replaceChildren();
  }
  form.dataset.state = "done";
}

function setupOther() {
  $("other-model").addEventListener("change", buildOtherForm);
  $("other-form").addEventListener("submit", submitOtherForm);
}

// ---- start ---------------------------------------------------------------------------------------

setupKeyForm();
setupDigits();
setupNames();
setupOther();
loadModels().then(() => {
  document.body.dataset.ready = "true";
});
