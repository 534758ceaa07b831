// A form generated from a model's request JSON schema (as /v1/models publishes it), prefilled from its
// example, so that a new task kind can be tried here without new page code.
//
// Simple fields get their own control (numbers, text, yes/no, choices, lists of numbers or strings);
// anything else (nested objects, lists of objects) gets a JSON text box, so every schema stays usable.

const MAX_NUMBER_INPUTS = 32;

function resolve(root, schema) {
  let current = schema || {};
  for (let hops = 0; current.$ref && hops < 16; hops += 1) {
    const path = current.$ref.replace(/^#\//, "").split("/");
    current = path.reduce((node, key) => (node ? node[key] : undefined), root) || {};
  }
  // Optional fields come as anyOf [X, null]: the form edits X, and an empty control leaves it out.
  const options = current.anyOf || current.oneOf;
  if (options) {
    const real = options.filter((option) => option.type !== "null");
    if (real.length === 1) {
      return { ...resolve(root, real[0]), title: current.title, description: current.description };
    }
  }
  return current;
}

function kindOf(schema) {
  const type = schema.type;
  if (schema.enum) {
    return "choice";
  }
  if (type === "integer" || type === "number") {
    return "number";
  }
  if (type === "boolean") {
    return "boolean";
  }
  if (type === "string") {
    return "text";
  }
  if (type === "array" && schema.items) {
    const itemType = schema.items.type;
    if (itemType === "integer" || itemType === "number") {
      const fixed = schema.minItems !== undefined && schema.minItems === schema.maxItems;
      return fixed && schema.maxItems <= MAX_NUMBER_INPUTS ? "numbers" : "number-list";
    }
    if (itemType === "string") {
      return "lines";
    }
  }
  return "json";
}

function labelled(id, text, control, description) {
  const wrapper = document.createElement("div");
  const label = document.createElement("label");
  label.htmlFor = id;
  label.textContent = text;
  wrapper.append(label);
  if (description) {
    const hint = document.createElement("p");
    hint.className = "hint";
    hint.id = `${id}-hint`;
    hint.textContent = description;
    control.setAttribute("aria-describedby", hint.id);
    wrapper.append(hint);
  }
  wrapper.append(control);
  return wrapper;
}

function numberInput(id, schema, value, itemSchema) {
  const input = document.createElement("input");
  input.type = "number";
  input.id = id;
  const limits = itemSchema || schema;
  input.step = limits.type === "integer" ? "1" : "any";
  if (limits.minimum !== undefined) input.min = String(limits.minimum);
  if (limits.maximum !== undefined) input.max = String(limits.maximum);
  if (value !== undefined && value !== null) input.value = String(value);
  return input;
}

function parseNumber(text, where) {
  const value = Number(text);
  if (text.trim() === "" || Number.isNaN(value)) {
    throw new Error(`${where}: "${text}" is not a number`);
  }
  return value;
}

// One field: its control and a read() that gives the value for the body (undefined: leave it out).
function buildField(root, formId, name, rawSchema, value, required) {
  const schema = resolve(root, rawSchema);
  const id = `${formId}-${name}`;
  const title = `${schema.title || name}${required ? "" : " (optional)"}`;
  const kind = kindOf(schema);
  if (kind === "numbers") {
    const group = document.createElement("fieldset");
    const legend = document.createElement("legend");
    legend.textContent = title;
    const box = document.createElement("div");
    box.className = "numbers";
    const inputs = [];
    for (let i = 0; i < schema.maxItems; i += 1) {
      const input = numberInput(`${id}-${i}`, schema, value ? value[i] : undefined, schema.items);
      input.setAttribute("aria-label", `${schema.title || name} ${i + 1}`);
      inputs.push(input);
      box.append(input);
    }
    group.append(legend, box);
    const read = () => inputs.map((input, i) => parseNumber(input.value, `${name}[${i}]`));
    return { node: group, read };
  }
  let control;
  let read;
  if (kind === "number") {
    control = numberInput(id, schema, value ?? schema.default);
    read = () => (control.value === "" ? undefined : parseNumber(control.value, name));
  } else if (kind === "boolean") {
    control = document.createElement("input");
    control.type = "checkbox";
    control.id = id;
    control.checked = Boolean(value ?? schema.default);
    read = () => control.checked;
  } else if (kind === "choice") {
    control = document.createElement("select");
    control.id = id;
    for (const option of schema.enum) {
      control.append(new Option(String(option), JSON.stringify(option)));
    }
    if (value !== undefined) control.value = JSON.stringify(value);
    read = () => JSON.parse(control.value);
  } else if (kind === "text") {
    control = document.createElement("input");
    control.type = "text";
    control.id = id;
    control.value = value ?? schema.default ?? "";
    read = () => (control.value === "" && !required ? undefined : control.value);
  } else {
    control = document.createElement("textarea");
    control.id = id;
    control.rows = kind === "json" ? 6 : 3;
    control.spellcheck = false;
    if (kind === "lines") {
      control.value = Array.isArray(value) ? value.join("\n") : "";
      read = () => control.value.split("\n").map((line) => line.trim()).filter(Boolean);
    } else if (kind === "number-list") {
      control.value = Array.isArray(value) ? value.join(", ") : "";
      read = () => control.value.split(/[\s,]+/).filter(Boolean).map((text, i) => parseNumber(text, `${name}[${i}]`));
    } else {
      control.value = value === undefined ? "" : JSON.stringify(value); // compact: a pixel grid stays short
      read = () => {
        if (control.value.trim() === "") return undefined;
        try {
          return JSON.parse(control.value);
        } catch (err) {
          throw new Error(`${name}: not valid JSON (${err.message})`);
        }
      };
    }
  }
  const hint = kind === "lines" ? "One per line." : kind === "number-list" ? "Numbers, separated by commas." : "";
  const description = [schema.description, hint].filter(Boolean).join(" ");
  return { node: labelled(id, title, control, description), read };
}

// Fills `form` with a control per property of `schema` and a submit button; returns read() -> body.
export function buildSchemaForm(form, schema, example, { skip = [] } = {}) {
  const root = schema || {};
  const top = resolve(root, root);
  const required = new Set(top.required || []);
  const fields = [];
  for (const [name, property] of Object.entries(top.properties || {})) {
    if (skip.includes(name)) continue;
    const field = buildField(root, form.id, name, property, example ? example[name] : undefined, required.has(name));
    fields.push([name, field]);
    form.append(field.node);
  }
  const submit = document.createElement("button");
  submit.type = "submit";
  submit.textContent = "Predict";
  form.append(submit);
  return () => {
    const body = {};
    for (const [name, field] of fields) {
      const value = field.read();
      if (value !== undefined) body[name] = value;
    }
    return body;
  };
}
