// A Java user of locksfile: everything comes from `dev.locksfile` (and the JDK).
import dev.locksfile.LockGuard;
import dev.locksfile.LockMode;
import dev.locksfile.LocksFile;
import dev.locksfile.LocksFileException;
import dev.locksfile.Scope;
import java.io.BufferedReader;
import java.io.InputStreamReader;

/** {@code Main PATH}: holds write locks 7 and 8 of PATH (process-owned) until a line arrives on stdin. */
public final class Main {
    public static void main(String[] args) throws Exception {
        try (LocksFile locks = LocksFile.open(args[0], Scope.PROCESS)) {
            try {
                locks.acquire(-1, LockMode.WRITE);
            } catch (LocksFileException.InvalidRange e) {
                System.out.println("error: " + e.getDetail());
            }
            try (LockGuard guard = locks.write(LocksFile.range(7, 8))) {
                System.out.println("holding write 7..8 in pid " + ProcessHandle.current().pid());
                new BufferedReader(new InputStreamReader(System.in)).readLine();
            }
            System.out.println("released: " + locks.held());
        }
    }
}
