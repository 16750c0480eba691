// Regularity of a series of connections, in the manner of RITA's beacon analysis
// (activecm/rita): intervals between connection starts that barely vary (low skew, small median
// absolute deviation) and payloads of nearly the same size, weighted 2:1, scaled down when the
// connections do not keep coming over the capture. Each part scores 0..1; the record keeps the
// parts so a responder sees why.

function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Bowley's quartile skewness, 0 for a symmetric (or constant) series. Skew within a spread of a
 * few percent of the median is noise (a timer's jitter), so it counts in proportion to the spread
 * up to 20 % of the median.
 */
function bowley(sorted: number[]): number {
  const q1 = quantile(sorted, 0.25);
  const q2 = quantile(sorted, 0.5);
  const q3 = quantile(sorted, 0.75);
  const iqr = q3 - q1;
  if (iqr === 0 || q2 === q1 || q2 === q3) return 0;
  const weight = q2 > 0 ? Math.min(1, iqr / (0.2 * q2)) : 1;
  return ((q3 + q1 - 2 * q2) / iqr) * weight;
}

function madm(sorted: number[]): { median: number; mad: number } {
  const median = quantile(sorted, 0.5);
  const dev = sorted.map((x) => Math.abs(x - median)).sort((a, b) => a - b);
  return { median, mad: quantile(dev, 0.5) };
}

const clamp = (x: number) => Math.max(0, Math.min(1, x));
const r3 = (x: number) => Math.round(x * 1000) / 1000;

export interface BeaconScore {
  intervalSeconds: number;
  jitterSeconds: number;
  beaconScore: number;
  scores: { intervalSkew: number; intervalSpread: number; coverage: number; sizeSkew: number; sizeSpread: number };
}

/**
 * starts: connection start times in seconds (any order); bytes: payload bytes per connection;
 * span: how long the capture ran, in seconds. Undefined for fewer than 4 connections.
 */
export function beaconScore(starts: number[], bytes: number[], span: number): BeaconScore | undefined {
  if (starts.length < 4) return undefined;
  const ts = [...starts].sort((a, b) => a - b);
  const intervals = ts.slice(1).map((t, i) => t - ts[i]).sort((a, b) => a - b);
  const { median, mad } = madm(intervals);
  if (median <= 0) return undefined;
  const intervalSkew = clamp(1 - Math.abs(bowley(intervals)));
  const intervalSpread = clamp(1 - mad / median);
  // Connections that cover the capture (a beacon keeps calling), not one burst.
  const coverage = clamp((ts[ts.length - 1] - ts[0] + median) / Math.max(span, median));
  const ds = [...bytes].sort((a, b) => a - b);
  const sizes = madm(ds);
  const sizeSkew = clamp(1 - Math.abs(bowley(ds)));
  // RITA's data-size dispersion: 32 bytes of median deviation is no regularity at all.
  const sizeSpread = clamp(1 - sizes.mad / 32);
  const timing = (intervalSkew + intervalSpread) / 2;
  const size = (sizeSkew + sizeSpread) / 2;
  // A series over half the capture or more counts in full (a beacon may start mid-capture); a
  // burst of regular connections in a moment of a long capture is no beacon.
  const persistence = Math.min(1, 2 * coverage);
  return {
    intervalSeconds: r3(median),
    jitterSeconds: r3(mad),
    beaconScore: r3(((2 * timing + size) / 3) * persistence),
    scores: { intervalSkew: r3(intervalSkew), intervalSpread: r3(intervalSpread), coverage: r3(coverage), sizeSkew: r3(sizeSkew), sizeSpread: r3(sizeSpread) },
  };
}
