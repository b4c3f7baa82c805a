import ArgumentParser
import HybridSync

extension HybridLayout.Placement: ExpressibleByArgument {}
extension Strategy: ExpressibleByArgument {}
