import Foundation

/// A line chart with a title, axis labels, numeric ticks, optional log scales and a legend.
struct LineChart {
    struct Series {
        let label: String
        let points: [(Double, Double)]
        var dashed = false
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var logX = false
    var logY = false
    var series: [Series] = []
    /// Draw points only (a scatter), plus the y = x diagonal.
    var scatterWithDiagonal = false

    static let palette: [Canvas.Color] = [(200, 40, 40), (30, 100, 200), (30, 150, 60), (150, 60, 170), (230, 130, 0), (90, 90, 90)]

    func write(_ path: String, width: Int = 720, height: Int = 440) throws {
        var c = Canvas(width: width, height: height)
        let left = 70, right = width - 170, top = 40, bottom = height - 55
        let xs = series.flatMap { $0.points.map(\.0) }.filter { $0.isFinite && (!logX || $0 > 0) }
        let ys = series.flatMap { $0.points.map(\.1) }.filter { $0.isFinite && (!logY || $0 > 0) }
        guard let xMin0 = xs.min(), let xMax0 = xs.max(), let yMin0 = ys.min(), let yMax0 = ys.max() else { return try c.writePNG(path) }
        var (xMin, xMax, yMin, yMax) = (xMin0, xMax0, logY ? yMin0 : min(0, yMin0), yMax0 * 1.08)
        if scatterWithDiagonal { xMin = min(xMin, yMin); yMin = xMin; xMax = max(xMax, yMax); yMax = xMax }
        if xMax == xMin { xMax = xMin + 1 }
        if yMax == yMin { yMax = yMin + 1 }
        func fx(_ x: Double) -> Int {
            let t = logX ? (log(x) - log(xMin)) / (log(xMax) - log(xMin)) : (x - xMin) / (xMax - xMin)
            return left + Int(Double(right - left) * t)
        }
        func fy(_ y: Double) -> Int {
            let t = logY ? (log(max(y, yMin)) - log(yMin)) / (log(yMax) - log(yMin)) : (y - yMin) / (yMax - yMin)
            return bottom - Int(Double(bottom - top) * t)
        }
        c.text(title, left, 12, scale: 2)
        // Axes, grid and ticks.
        for q in 0...4 {
            let y = bottom - (bottom - top) * q / 4
            c.line(left, y, right, y, q == 0 ? (0, 0, 0) : (225, 225, 225))
            let v = logY ? exp(log(yMin) + (log(yMax) - log(yMin)) * Double(q) / 4) : yMin + (yMax - yMin) * Double(q) / 4
            let label = Self.format(v)
            c.text(label, left - 6 - Canvas.textWidth(label), y - 3)
        }
        c.line(left, top, left, bottom, (0, 0, 0))
        let unique = Array(Set(xs)).sorted()
        let ticks: [Double] =
            logX
            ? (unique.count <= 10 ? unique : (0...5).map { exp(log(xMin) + (log(xMax) - log(xMin)) * Double($0) / 5) })
            : (0...5).map { xMin + (xMax - xMin) * Double($0) / 5 }
        for t in ticks {
            let x = fx(t)
            c.line(x, bottom, x, bottom + 4, (0, 0, 0))
            let label = Self.format(t)
            c.text(label, x - Canvas.textWidth(label) / 2, bottom + 8)
        }
        c.text(xLabel, (left + right) / 2 - Canvas.textWidth(xLabel) / 2, bottom + 24)
        c.text(yLabel, 12, (top + bottom) / 2 + Canvas.textWidth(yLabel) / 2, vertical: true)
        if scatterWithDiagonal { c.line(fx(xMin), fy(yMin), fx(xMax), fy(yMax), (180, 180, 180)) }
        for (i, s) in series.enumerated() {
            let color = Self.palette[i % Self.palette.count]
            let pts = s.points.filter { $0.0.isFinite && $0.1.isFinite }.sorted { $0.0 < $1.0 }
            for (k, p) in pts.enumerated() {
                let (x, y) = (fx(p.0), fy(p.1))
                for dx in -2...2 { for dy in -2...2 { c.set(x + dx, y + dy, color) } }
                if k > 0 && !scatterWithDiagonal {
                    let (x0, y0) = (fx(pts[k - 1].0), fy(pts[k - 1].1))
                    if s.dashed {
                        let n = max(abs(x - x0), 1)
                        for step in stride(from: 0, to: n, by: 8) {
                            let e = min(n, step + 4)
                            c.line(x0 + (x - x0) * step / n, y0 + (y - y0) * step / n, x0 + (x - x0) * e / n, y0 + (y - y0) * e / n, color, thickness: 2)
                        }
                    } else {
                        c.line(x0, y0, x, y, color, thickness: 2)
                    }
                }
            }
            let ly = top + 8 + i * 16
            c.line(right + 12, ly + 3, right + 32, ly + 3, color, thickness: 2)
            c.text(s.label, right + 38, ly)
        }
        try c.writePNG(path)
    }

    static func format(_ v: Double) -> String {
        let a = abs(v)
        if a >= 1e6 { return String(format: "%.1fM", v / 1e6) }
        if a >= 1e4 { return String(format: "%.0fK", v / 1e3) }
        if a >= 100 { return String(format: "%.0f", v) }
        if a >= 1 { return String(format: "%.1f", v) }
        if a == 0 { return "0" }
        return String(format: "%.2f", v)
    }
}
