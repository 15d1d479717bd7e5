import AccessModel
import Foundation
import DesiredRepo
import LiveStore
import Platform

/// Why an import wrote nothing. The message is meant for the operator.
public struct ImportError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// How to import.
public struct ImportOptions: Sendable {
    /// The live database to read (read-only).
    public var database: String
    /// The directory to write: must not exist, or be empty.
    public var output: String
    /// Row sources to export; empty: all.
    public var sources: Set<RowSource> = []
    /// A directory of `<service id>.md` files, for services whose row has no skill text.
    public var skillsDirectory: String?

    public init(database: String, output: String) {
        self.database = database
        self.output = output
    }
}

/// What an import wrote, and the validation of the result.
public struct ImportReport: Sendable {
    public var output: String
    public var repository: ImportedRepository
    /// The written repository, loaded and validated with the normal loader.
    public var validation: LoadResult

    /// "Wrote DIR: 3 services, 10 users, 5 groups (33 files)."
    public var summary: String {
        let r = repository
        return "Wrote \(output): \(ImportBuilder.plural(r.services, "service")), \(ImportBuilder.plural(r.users, "user")), "
            + "\(ImportBuilder.plural(r.groups, "group")) (\(ImportBuilder.plural(r.files.count, "file")))."
    }

    /// When rows of other sources were exported: what plan will show and how to take them over.
    public var adoptHint: String? {
        let foreign = repository.foreignRows.filter { $0.value > 0 }
        guard !foreign.isEmpty else { return nil }
        let total = foreign.values.reduce(0, +)
        let parts = foreign.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key.rawValue)" }.joined(separator: ", ")
        return "\(ImportBuilder.plural(total, "exported row")) \(total == 1 ? "is" : "are") owned by another source than gitops "
            + "(\(parts)): plan shows \(total == 1 ? "it as a conflict" : "them as conflicts") until "
            + "`accessctl plan --adopt` / `accessctl apply --adopt` takes ownership."
    }
}

/// `accessctl import`: writes a desired-state repository from a live database, such that it
/// validates and plans no changes against that database (docs/admin-guide.md, "Moving an
/// existing server to GitOps").
///
/// The database is only read (``LiveStore/exportSnapshot(path:)``: no key is selected). The
/// output directory must not exist or be empty; the files are written into a new directory
/// beside it, which is then renamed into place, so a failure leaves nothing half written and
/// nothing is ever overwritten.
public enum Importer {
    public static func run(_ options: ImportOptions) throws(ImportError) -> ImportReport {
        let output = options.output
        guard !output.isEmpty else { throw ImportError("the output directory is empty") }
        // Absolute and without `.`/`..` components, so that the directory beside it is
        // well defined (for `--out .` too).
        let target = URL(fileURLWithPath: output).standardizedFileURL.path
        try checkOutput(target, shown: output)
        let export: LiveExport
        do {
            guard let read = try LiveStore.exportSnapshot(path: options.database) else {
                throw ImportError("no accessctl database at \(options.database) (the file does not exist, or has no accessctl schema); nothing was written")
            }
            export = read
        } catch let error as LiveStoreError {
            throw ImportError(error.message)
        } catch let error as ImportError {
            throw error
        } catch {
            throw ImportError("\(error)")
        }
        let skills = options.skillsDirectory
        if let skills {
            guard (try? FileInfo(path: skills))?.kind == .directory else {
                throw ImportError("--skills \(skills) is not a directory; nothing was written")
            }
        }
        let repository = ImportBuilder.build(export, sources: options.sources) { id in
            guard let skills else { return .none }
            return readSkill(directory: skills, service: id)
        }
        try write(repository, to: target, shown: output)
        let validation: LoadResult
        do {
            validation = try DesiredStateLoader.load(from: DirectorySource(path: output))
        } catch {
            throw ImportError("wrote \(output), but cannot read it back: \(error.message)")
        }
        return ImportReport(output: output, repository: repository, validation: validation)
    }

    /// `<directory>/<service>.md`, when it exists.
    static func readSkill(directory: String, service: String) -> SuppliedSkill {
        let bytes: [UInt8]
        do {
            bytes = try DirectorySource.readFile(at: directory + "/" + service + ".md", shown: "\(service).md")
        } catch {
            return error.isMissing ? .none : .unusable(error.message)
        }
        if bytes.count > DesiredStateLoader.maxSkillBytes {
            return .unusable("\(bytes.count) bytes; the limit is \(DesiredStateLoader.maxSkillBytes) bytes (256 KiB)")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { return .unusable("not UTF-8") }
        return .text(text)
    }

    /// Refuses anything at `path` but nothing or an empty directory, and a missing parent.
    static func checkOutput(_ target: String, shown path: String) throws(ImportError) {
        let info: FileInfo
        do { info = try FileInfo(path: target, followLinks: false) } catch {
            guard error.errno == .noSuchFile else {
                throw ImportError("cannot examine \(path): \(error.reason); nothing was written")
            }
            let parent = parentDirectory(of: target)
            guard (try? FileInfo(path: parent))?.kind == .directory else {
                throw ImportError("cannot write \(path): directory \(parent) does not exist; nothing was written")
            }
            return
        }
        switch info.kind {
        case .directory: break
        case .symbolicLink: throw ImportError("\(path) is a symbolic link; give a new or empty directory (nothing was written)")
        default: throw ImportError("\(path) exists and is not a directory; give a new or empty directory (nothing was written)")
        }
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: target) } catch {
            throw ImportError("cannot read directory \(path): \(error.localizedDescription); nothing was written")
        }
        if !entries.isEmpty {
            throw ImportError("\(path) is not empty; import writes only into a new or empty directory and never "
                + "overwrites (nothing was written)")
        }
    }

    /// Writes every file into a new directory beside `path`, then renames it to `path`. On
    /// any failure the new directory is removed and `path` is left as it was.
    static func write(_ repository: ImportedRepository, to target: String, shown path: String) throws(ImportError) {
        let parent = parentDirectory(of: target)
        let name = target.split(separator: "/").last.map(String.init) ?? "import"
        var temp = ""
        for _ in 0..<10 {
            let candidate = parent + "/." + name + ".import-" + UUID().uuidString.prefix(8).lowercased()
            do {
                try Files.createDirectory(atPath: candidate, permissions: 0o777)
                temp = candidate
                break
            } catch where error.errno == .exists {
                continue
            } catch {
                throw ImportError("cannot create a directory in \(parent): \(error.reason); nothing was written")
            }
        }
        guard !temp.isEmpty else { throw ImportError("cannot create a temporary directory in \(parent); nothing was written") }
        do throws(ImportError) {
            var made: Set<String> = []
            for file in repository.files {
                let parts = file.path.split(separator: "/").map(String.init)
                var directory = temp
                for part in parts.dropLast() {
                    directory += "/" + part
                    guard made.insert(directory).inserted else { continue }
                    do { try Files.createDirectory(atPath: directory, permissions: 0o777) } catch {
                        guard error.errno == .exists else { throw ImportError("cannot create \(directory): \(error.reason)") }
                    }
                }
                try writeNew(temp + "/" + file.path, file.text)
            }
            do { try Files.rename(temp, to: target) } catch {
                if error.errno == .notEmpty || error.errno == .exists {
                    throw ImportError("\(path) is no longer empty (something was written into it meanwhile)")
                }
                throw ImportError("cannot move the written files to \(path): \(error.reason)")
            }
        } catch {
            try? FileManager.default.removeItem(atPath: temp)
            throw ImportError(error.message + "; nothing was written")
        }
    }

    /// Creates `path` (it must not exist) with `text`, mode 0666 less the umask.
    static func writeNew(_ path: String, _ text: String) throws(ImportError) {
        let file: OpenFile
        do { file = try OpenFile(path: path, access: .write, creating: .exclusive(permissions: 0o666)) } catch {
            throw ImportError("cannot create \(path): \(error.reason)")
        }
        do { try file.write(Array(text.utf8)) } catch { throw ImportError("cannot write \(path): \(error.reason)") }
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }
}
