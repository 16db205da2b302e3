import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.RandomAccessFile;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.util.HashMap;
import java.util.Map;

/**
 * A foreign peer: a plain Java process using only {@code FileChannel.lock(position, size, shared)}
 * (classic POSIX byte-range locks, owned by the JVM process), speaking the workers' protocol
 * (tests/README.md) for the commands a FileChannel can do: open, close, acquire (block or try),
 * release, release-all, pid, quit.
 */
public final class ChannelPeer {
    private static FileChannel channel;
    private static final Map<String, FileLock> locks = new HashMap<>();

    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        for (String line; (line = in.readLine()) != null; ) {
            String[] words = line.trim().split("\\s+");
            if (words[0].isEmpty()) continue;
            if (words[0].equals("quit")) break;
            String reply;
            try {
                reply = handle(words);
            } catch (IOException e) {
                // The JDK reports the kernel's EDEADLK only as this message.
                boolean deadlock = String.valueOf(e.getMessage()).contains("deadlock");
                reply = (deadlock ? "err Deadlock: " : "err Io: ") + e;
            } catch (RuntimeException e) {
                reply = "err Io: " + e;
            }
            System.out.println(reply);
            System.out.flush();
        }
    }

    private static String handle(String[] words) throws IOException {
        switch (words[0]) {
            case "pid":
                return Long.toString(ProcessHandle.current().pid());
            case "open":
                channel = new RandomAccessFile(words[1], "rw").getChannel();
                return "ok";
            case "close":
                locks.clear();
                channel.close(); // releases this channel's locks
                return "ok";
            case "acquire": {
                if (!words[3].equals("block") && !words[3].equals("try")) break;
                long[] span = span(words[2]);
                boolean shared = words[1].equals("read");
                FileLock lock = words[3].equals("try")
                        ? channel.tryLock(span[0], span[1], shared)
                        : channel.lock(span[0], span[1], shared);
                if (lock == null) return "busy";
                locks.put(words[2], lock);
                return "ok";
            }
            case "release": {
                FileLock lock = locks.remove(words[1]);
                if (lock == null) return "err Unsupported: FileChannel releases only a range it locked as one";
                lock.release();
                return "ok";
            }
            case "release-all":
                for (FileLock lock : locks.values()) lock.release();
                locks.clear();
                return "ok";
            default:
                break;
        }
        return "err Unsupported: FileChannel peer cannot " + String.join(" ", words);
    }

    /** {@code 3}, {@code 1..4} or {@code 5..} as {position, size}; an open-ended range reaches the largest index. */
    private static long[] span(String text) {
        int dots = text.indexOf("..");
        if (dots < 0) return new long[] {Long.parseLong(text), 1};
        long start = Long.parseLong(text.substring(0, dots));
        String end = text.substring(dots + 2);
        return new long[] {start, end.isEmpty() ? Long.MAX_VALUE - start : Long.parseLong(end) - start};
    }
}
