import Foundation

/// The demo's loss curve as a PNG chart (title, axes, ticks).
enum PNGPlot {
    static func write(_ values: [Double], to path: String, every: Int) throws {
        var chart = LineChart(title: "training loss", xLabel: "step", yLabel: "loss (mean over workers)")
        chart.series = [LineChart.Series(label: "loss", points: values.enumerated().map { (Double(($0.offset + 1) * every), $0.element) })]
        try chart.write(path)
    }
}
