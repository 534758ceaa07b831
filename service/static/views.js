// Rendering: probability bars, model cards, the latency split, the 28x28 preview, error lines.
// Text goes in through textContent only, so nothing a model or a server returns is parsed as HTML.

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function percent(probability) {
  return `${(probability * 100).toFixed(1)}%`;
}

// items: [{label, probability}], best first.
export function renderBars(list, items) {
  const rows = items.map(({ label, probability }) => {
    const row = element("li");
    row.dataset.label = String(label);
    row.append(element("span", "label", String(label)));
    const track = element("span", "track");
    track.setAttribute("aria-hidden", "true");
    const fill = element("span", "fill");
    fill.style.width = percent(Math.max(0, Math.min(1, probability))); // CSSOM, allowed by the CSP
    track.append(fill);
    row.append(track, element("span", "value", percent(probability)));
    return row;
  });
  list.replaceChildren(...rows);
}

// Manifests record accuracy in percent (99.33); a fraction (0.9933) reads the same here.
export function accuracyText(metrics) {
  const value = metrics ? metrics.test_accuracy : undefined;
  if (typeof value !== "number") {
    return null;
  }
  return `${(value <= 1 ? value * 100 : value).toFixed(2)}%`;
}

const CARD_FIELDS = [
  ["Name", (m) => m.name],
  ["Version", (m) => (m.versions && m.versions.length > 1 ? `${m.version} (of ${m.versions.join(", ")})` : m.version)],
  ["Task", (m) => m.task],
  ["Architecture", (m) => m.architecture],
  ["Test accuracy", (m) => accuracyText(m.metrics)],
  ["Parameters", (m) => (typeof m.parameters === "number" ? m.parameters.toLocaleString("en") : null)],
  ["Graph", (m) => m.graph],
  ["Device", (m) => m.device],
  ["Status", (m) => m.status],
];

export function renderCard(list, model) {
  const nodes = [];
  if (model) {
    for (const [term, read] of CARD_FIELDS) {
      const value = read(model);
      if (value !== null && value !== undefined && value !== "") {
        nodes.push(element("dt", "", term), element("dd", "", String(value)));
      }
    }
  }
  list.replaceChildren(...nodes);
}

function ms(value) {
  return typeof value === "number" ? `${value.toFixed(2)} ms` : "–";
}

// The server's own split from Server-Timing, beside the time the browser waited in all.
export function renderTiming(line, result) {
  const t = result.timing;
  const parts = [
    `queue ${ms(t.queue)}`,
    `pre-processing ${ms(t.preprocess)}`,
    `inference ${ms(t.inference)}`,
    `batch of ${t.batch_size || "–"}`,
    `round trip ${ms(result.elapsedMs)}`,
  ];
  line.textContent = parts.join(" · ");
  line.title = result.requestId ? `request id ${result.requestId}` : "";
  line.dataset.requestId = result.requestId || "";
}

// grid: 28 rows of 28 integers 0..255 (white ink on black, as the model saw it).
export function renderPreview(canvas, grid) {
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(canvas.width, canvas.height);
  grid.forEach((row, y) =>
    row.forEach((value, x) => {
      const at = (y * canvas.width + x) * 4;
      image.data[at] = image.data[at + 1] = image.data[at + 2] = value;
      image.data[at + 3] = 255;
    }),
  );
  ctx.putImageData(image, 0, 0);
}

export function clearPreview(canvas) {
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#000000";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
}

export function showError(line, error) {
  if (!error) {
    line.hidden = true;
    line.textContent = "";
    return;
  }
  line.hidden = false;
  line.textContent = error.message;
}
