// What every page does with its forms: read them, show errors and notices where screen
// readers announce them (role=alert/status regions), and move the focus to what changed.
// Text from the service is only ever set as textContent, never parsed as HTML.

export const $ = (id) => document.getElementById(id);

export function show(element, visible = true) {
  element.hidden = !visible;
}

/** Show `text` in a message region (hidden when empty) and, with `focus`, move there. */
export function say(region, text, { focus = false } = {}) {
  region.textContent = text || "";
  show(region, Boolean(text));
  if (text && focus) region.focus();
}

/** A new element with text and attributes, built without HTML parsing. */
export function element(tag, { text, className, attributes = {} } = {}, ...children) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** The form's named fields as an object (the API's own field names). */
export function values(form) {
  return Object.fromEntries(new FormData(form).entries());
}

/** Take away the problems `onSubmit` marked on the form's fields. */
export function clearFieldErrors(form) {
  for (const note of form.querySelectorAll(".field-error")) note.remove();
  for (const input of form.querySelectorAll("[aria-invalid]")) {
    input.removeAttribute("aria-invalid");
    const describedBy = (input.getAttribute("aria-describedby") || "")
      .split(" ")
      .filter((id) => id && !id.endsWith("-problem"));
    if (describedBy.length) input.setAttribute("aria-describedby", describedBy.join(" "));
    else input.removeAttribute("aria-describedby");
  }
}

/** Put each field's problem next to it; how many fields were marked. */
function markFieldErrors(form, details) {
  let marked = 0;
  for (const [name, messages] of Object.entries(details || {})) {
    const input = form.elements.namedItem(name);
    if (!(input instanceof HTMLElement)) continue;
    marked += 1;
    const note = element("p", {
      text: [].concat(messages).join(" "),
      className: "field-error",
      attributes: { id: `${input.id}-problem` },
    });
    input.after(note);
    input.setAttribute("aria-invalid", "true");
    const describedBy = input.getAttribute("aria-describedby");
    input.setAttribute("aria-describedby", [describedBy, note.id].filter(Boolean).join(" "));
  }
  return marked;
}

/** What to tell a person about a failed call. */
export function problem(error) {
  if (error && error.code === "rate_limited") {
    return "Too many attempts. Wait a minute, then try again.";
  }
  return (error && error.message) || "Something went wrong. Try again.";
}

/**
 * Run `handler(values)` when `form` is submitted: the button is disabled meanwhile, and a
 * failure is shown in `errorRegion` (focused, so it is read out) with each field's problem
 * next to the field.
 */
export function onSubmit(form, errorRegion, handler) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const buttons = form.querySelectorAll("button");
    for (const button of buttons) button.disabled = true;
    say(errorRegion, "");
    clearFieldErrors(form);
    try {
      await handler(values(form));
    } catch (error) {
      // The API's summary of a field problem ("The request body is invalid.") is for
      // programmers; a person is pointed at the field, whose own note says what is wrong.
      const marked = markFieldErrors(form, error.details);
      const summary = marked ? "Correct the field marked below." : problem(error);
      say(errorRegion, summary, { focus: true });
    } finally {
      for (const button of buttons) button.disabled = false;
    }
  });
}

/** Run `handler()` on a click, with the same error handling as `onSubmit`. */
export function onClick(button, errorRegion, handler) {
  button.addEventListener("click", async () => {
    button.disabled = true;
    say(errorRegion, "");
    try {
      await handler();
    } catch (error) {
      say(errorRegion, problem(error), { focus: true });
    } finally {
      button.disabled = false;
    }
  });
}

/**
 * The parameter `name` of this page's address (a mailed `token`), taken out of the address
 * bar (and so out of the history and of any copy of the address) the moment the page
 * reads it.
 */
export function takeFromAddress(name) {
  const url = new URL(window.location.href);
  const value = url.searchParams.get(name);
  if (value !== null) {
    url.searchParams.delete(name);
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  return value;
}

/** A date and time from the API (ISO 8601) in the person's own locale. */
export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}
