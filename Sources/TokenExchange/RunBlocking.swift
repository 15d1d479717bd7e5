import Dispatch
import Foundation

/// Runs async work from synchronous code and waits for it (the apply executor is
/// synchronous).
///
/// The work runs on the calling thread, which serves as the task executor of the work and
/// of its child tasks until the work is done; so it needs no thread of the shared
/// cooperative pool, and does not deadlock when called from a synchronous function that
/// itself runs on that pool (a synchronous test, for instance). Do not call it from an
/// async context: await the work instead.
@available(*, noasync, message: "blocks the calling thread; await the work instead")
public func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let box = BlockingBox<T>()
    if #available(macOS 15.0, iOS 18.0, tvOS 18.0, watchOS 11.0, *) {
        let executor = CallerThreadExecutor()
        Task(executorPreference: executor) {
            box.value = await body()
            executor.stop()
        }
        executor.run()
    } else {
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            box.value = await body()
            done.signal()
        }
        done.wait()
    }
    return box.value!
}

/// The result slot of `runBlocking`: written once by the task, read after it finished.
private final class BlockingBox<T>: @unchecked Sendable {
    var value: T?
}

/// A task executor whose jobs run on the thread that calls `run()`, until `stop()`.
@available(macOS 15.0, iOS 18.0, tvOS 18.0, watchOS 11.0, *)
private final class CallerThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopped = false

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        guard !stopped else {
            // A task that outlives the work (an unstructured task it started): the shared
            // pool runs it from now on.
            condition.unlock()
            globalConcurrentExecutor.enqueue(job)
            return
        }
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    /// Runs jobs as they come until `stop()` was called; jobs left then go to the shared pool.
    func run() {
        let me = asUnownedTaskExecutor()
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            if stopped {
                let rest = jobs
                jobs.removeAll()
                condition.unlock()
                for job in rest { globalConcurrentExecutor.enqueue(job) }
                return
            }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            condition.unlock()
            for job in batch { job.runSynchronously(on: me) }
        }
    }
}
