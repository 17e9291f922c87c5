// Plotly, loaded on first use (4.8 MB that the runs list never needs) from the server's own copy,
// with one look for every chart.

let plotlyPromise = null;

export function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  plotlyPromise ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "/assets/plotly.min.js";
    script.async = true;
    script.onload = () => resolve(window.Plotly);
    script.onerror = () => {
      plotlyPromise = null;
      script.remove();
      reject(new Error("The charting library (/assets/plotly.min.js) could not be loaded from the server."));
    };
    document.head.append(script);
  });
  return plotlyPromise;
}

// Tableau 10: distinct, colour-blind-friendlier than Plotly's default; dashes tell apart runs 11 to 40.
export const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
const DASHES = ["solid", "dash", "dot", "dashdot"];

export function seriesStyle(index) {
  return { color: PALETTE[index % PALETTE.length], dash: DASHES[Math.floor(index / PALETTE.length) % DASHES.length] };
}

/** "#4e79a7" -> "rgba(78,121,167,0.15)" for bands and faint raw lines. */
export function withAlpha(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}

const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';

export function baseLayout({ xTitle, yTitle, logY = false, legend = true } = {}) {
  return {
    font: { family: FONT, size: 12, color: "#1c2230" },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "#ffffff",
    margin: { l: 56, r: 16, t: 12, b: 44 },
    hovermode: "x unified",
    hoverlabel: { font: { family: FONT, size: 12 } },
    showlegend: legend,
    legend: { orientation: "h", y: -0.2, x: 0, font: { size: 11 } },
    xaxis: { title: { text: xTitle, standoff: 6 }, gridcolor: "#eef0f3", zeroline: false, linecolor: "#c4cad3", automargin: true },
    yaxis: { title: { text: yTitle, standoff: 6 }, gridcolor: "#eef0f3", zeroline: false, linecolor: "#c4cad3", automargin: true,
      type: logY ? "log" : "linear" },
  };
}

export const PLOT_CONFIG = {
  responsive: true,
  displaylogo: false,
  modeBarButtonsToRemove: ["lasso2d", "select2d", "autoScale2d"],
  toImageButtonOptions: { format: "png", scale: 2 },
};
