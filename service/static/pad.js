// The drawing pad: pointer events (mouse, pen and touch alike), strokes kept for undo, PNG out.

const INK = "#000000";
const PAPER = "#ffffff";

export class DrawingPad {
  constructor(canvas, { onChange, lineWidth = 20 }) {
    this.canvas = canvas;
    this.context = canvas.getContext("2d");
    this.onChange = onChange;
    this.lineWidth = lineWidth;
    this.strokes = [];
    this.current = null;
    canvas.addEventListener("pointerdown", (event) => this.down(event));
    canvas.addEventListener("pointermove", (event) => this.move(event));
    canvas.addEventListener("pointerup", (event) => this.up(event));
    canvas.addEventListener("pointercancel", (event) => this.up(event));
    this.redraw();
  }

  get empty() {
    return this.strokes.length === 0;
  }

  point(event) {
    const box = this.canvas.getBoundingClientRect();
    return [
      ((event.clientX - box.left) * this.canvas.width) / box.width,
      ((event.clientY - box.top) * this.canvas.height) / box.height,
    ];
  }

  down(event) {
    if (event.button !== 0) {
      return;
    }
    event.preventDefault();
    try {
      this.canvas.setPointerCapture(event.pointerId); // keep the stroke when the pointer leaves the pad
    } catch {
      // a pointer the browser no longer tracks: the stroke is drawn all the same
    }
    this.current = { pointerId: event.pointerId, points: [this.point(event)] };
    this.strokes.push(this.current.points);
    this.drawStroke(this.current.points);
    this.onChange("drawing");
  }

  move(event) {
    if (!this.current || event.pointerId !== this.current.pointerId) {
      return;
    }
    // Coalesced events keep a fast stroke smooth where the browser merged several moves into one.
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const each of events.length ? events : [event]) {
      this.current.points.push(this.point(each));
    }
    this.redraw();
    this.onChange("drawing");
  }

  up(event) {
    if (!this.current || event.pointerId !== this.current.pointerId) {
      return;
    }
    this.current = null;
    this.onChange("stroke");
  }

  undo() {
    this.strokes.pop();
    this.current = null;
    this.redraw();
    this.onChange("undo");
  }

  clear() {
    this.strokes = [];
    this.current = null;
    this.redraw();
    this.onChange("clear");
  }

  redraw() {
    const ctx = this.context;
    ctx.fillStyle = PAPER; // opaque paper: the PNG is dark ink on light, as a scanned digit
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    for (const stroke of this.strokes) {
      this.drawStroke(stroke);
    }
  }

  drawStroke(points) {
    const ctx = this.context;
    ctx.strokeStyle = INK;
    ctx.fillStyle = INK;
    ctx.lineWidth = this.lineWidth;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    if (points.length === 1) {
      ctx.beginPath();
      ctx.arc(points[0][0], points[0][1], this.lineWidth / 2, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    ctx.beginPath();
    ctx.moveTo(points[0][0], points[0][1]);
    for (const [x, y] of points.slice(1)) {
      ctx.lineTo(x, y);
    }
    ctx.stroke();
  }

  png() {
    return new Promise((resolve) => this.canvas.toBlob(resolve, "image/png"));
  }
}
