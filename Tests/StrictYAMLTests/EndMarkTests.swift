import StrictYAML
import Testing

@Suite("End marks and collection styles")
struct EndMarkTests {
    private func root(_ text: String) -> Mapping? {
        if case .mapping(let m) = StrictYAML.parse(Array(text.utf8)).root { return m }
        return nil
    }

    @Test func scalarsKnowWhereTheyEnd() throws {
        let m = try #require(root("a: plain  # c\nb: 'q''x'\nc:\nd: |\n  text\n\ne: \"é\"\n"))
        guard case .scalar(let a) = m.entries[0].value, case .scalar(let b) = m.entries[1].value,
              case .scalar(let c) = m.entries[2].value, case .scalar(let d) = m.entries[3].value,
              case .scalar(let e) = m.entries[4].value else { Issue.record("not scalars"); return }
        #expect(m.entries[0].key.end == Mark(line: 1, column: 2))
        #expect(a.end == Mark(line: 1, column: 9))
        #expect(b.end == Mark(line: 2, column: 10))
        #expect(c.mark == c.end && c.end == Mark(line: 3, column: 3))
        #expect(d.end == Mark(line: 7, column: 1))
        #expect(e.end == Mark(line: 7, column: 7))
        // The public initializer still works without an end; it defaults to the start.
        #expect(Scalar(text: "x", style: .plain, mark: .start).end == .start)
    }

    @Test func collectionsKnowTheirStyleAndFlowEnd() throws {
        let m = try #require(root("f: [a,\n  b]  # c\ng: {x: 1}\nh:\n  - a\n"))
        guard case .sequence(let f) = m.entries[0].value, case .mapping(let g) = m.entries[1].value,
              case .sequence(let h) = m.entries[2].value else { Issue.record("wrong types"); return }
        #expect(f.isFlow && f.end == Mark(line: 2, column: 5))
        #expect(g.isFlow && g.end == Mark(line: 3, column: 10))
        #expect(!h.isFlow && !m.isFlow)
    }
}
