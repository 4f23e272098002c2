package harness;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.TestPlan;

/**
 * Prints every skipped test and why, at the end of the run: a test skips where the machine
 * lacks what it needs (root, a tool, a newer JDK), and the reason belongs on the console,
 * not only in target/surefire-reports.
 */
public class SkipReport implements TestExecutionListener {
    private final List<String> skipped = new CopyOnWriteArrayList<>();

    @Override
    public void executionSkipped(TestIdentifier test, String reason) {
        skipped.add(name(test) + ": " + reason);
    }

    @Override
    public void executionFinished(TestIdentifier test, TestExecutionResult result) {
        if (result.getStatus() == TestExecutionResult.Status.ABORTED) { // an assumption did not hold
            skipped.add(name(test) + ": " + result.getThrowable().map(Throwable::getMessage).orElse("aborted")
                    .replaceFirst("^Assumption failed: ", ""));
        }
    }

    @Override
    public void testPlanExecutionFinished(TestPlan testPlan) {
        if (skipped.isEmpty()) return;
        StringBuilder report = new StringBuilder("\nSkipped, and why (" + skipped.size() + "):\n");
        skipped.forEach(line -> report.append("  ").append(line).append('\n'));
        System.out.print(report);
    }

    /** class.method, and for one run of a parameterized test its parameters: "[2] UPPERCASE". */
    private static String name(TestIdentifier test) {
        String method = test.getSource().filter(MethodSource.class::isInstance).map(MethodSource.class::cast)
                .map(m -> m.getClassName() + "." + m.getMethodName()).orElse(test.getDisplayName());
        return test.getDisplayName().startsWith("[") ? method + " " + test.getDisplayName() : method;
    }
}
