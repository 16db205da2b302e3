package dev.locksfile

import java.io.File
import java.lang.reflect.Modifier
import kotlin.reflect.KVisibility
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import org.junit.jupiter.api.Test
import dev.locksfile.ffi.LocksFileException as NativeException

/**
 * The public surface is `dev.locksfile` alone: its enums and its exception hierarchy are copies of the
 * interface definition's, converted at the boundary, and these tests check the copies agree with the
 * generated types (the conversions' exhaustive `when`s make a one-sided addition a compile error; here
 * the names and fields are compared too), and that no public signature names a generated type.
 */
class SurfaceTest {
    private fun names(type: Class<out Enum<*>>) = type.enumConstants.map { it.name }

    @Test
    fun `the public enums have the generated enums' constants`() {
        assertEquals(names(dev.locksfile.ffi.LockMode::class.java), names(LockMode::class.java))
        assertEquals(names(dev.locksfile.ffi.Scope::class.java), names(Scope::class.java))
        assertEquals(names(dev.locksfile.ffi.LockClass::class.java), names(LockClass::class.java))
        for (mode in LockMode.entries) assertEquals(mode, mode.toNative().toPublic())
        for (scope in Scope.entries) assertEquals(scope, scope.toNative().toPublic())
        for (kind in LockClass.entries) assertEquals(kind.name, kind.toNative().toPublic().name)
    }

    /** The variants of a sealed exception class: its nested subclasses, by name. */
    private fun variants(base: Class<*>): Map<String, Class<*>> =
        base.declaredClasses.filter { base.isAssignableFrom(it) && it != base }.associateBy { it.simpleName }

    /** The fields of a variant (its base class's included), as name to type. */
    private fun fields(variant: Class<*>, base: Class<*>): Map<String, Class<*>> =
        generateSequence(variant) { it.superclass }.takeWhile { base.isAssignableFrom(it) }
            .flatMap { it.declaredFields.asSequence() }
            .filter { !Modifier.isStatic(it.modifiers) }
            .associate { it.name to it.type }

    /** The values of a variant's fields, by name. */
    private fun values(error: Any, base: Class<*>): Map<String, Any?> =
        generateSequence(error.javaClass as Class<*>) { it.superclass }.takeWhile { base.isAssignableFrom(it) }
            .flatMap { it.declaredFields.asSequence() }
            .filter { !Modifier.isStatic(it.modifiers) }
            .associate { field -> field.isAccessible = true; field.name to field.get(error) }

    @Test
    fun `the public exceptions mirror the generated variants, field for field`() {
        val ours = variants(LocksFileException::class.java)
        val generated = variants(NativeException::class.java)
        assertEquals(generated.keys.sorted(), ours.keys.sorted())
        assertEquals(11, ours.size, "the UDL's LocksFileError has 11 variants: ${ours.keys}")
        for ((name, type) in generated) {
            val fields = fields(type, NativeException::class.java)
            assertEquals(fields, fields(ours.getValue(name), LocksFileException::class.java), name)
            assertTrue("detail" in fields, "$name carries detail")
            // A generated error with distinct values converts to ours with the same values.
            val constructor = type.constructors.single()
            var n = 0
            val arguments = constructor.parameterTypes.map<Class<*>, Any> { parameter ->
                n += 1
                if (parameter == String::class.java) "value $n of $name" else n
            }
            val native = constructor.newInstance(*arguments.toTypedArray()) as NativeException
            val converted = native.toPublic()
            assertEquals(name, converted.javaClass.simpleName)
            assertEquals(values(native, NativeException::class.java), values(converted, LocksFileException::class.java), name)
            assertEquals(converted.detail, converted.message, "$name: the message is the detail")
        }
    }

    /** Every class of this package, from the compiled classes (the generated package is beside it). */
    private fun publicClasses(): List<Class<*>> {
        val root = File(LocksFile::class.java.protectionDomain.codeSource.location.toURI())
        val directory = File(root, "dev/locksfile")
        return directory.listFiles()!!.filter { it.isFile && it.name.endsWith(".class") }
            .map { Class.forName("dev.locksfile." + it.name.removeSuffix(".class")) }
            .filter { Modifier.isPublic(it.modifiers) && !it.isSynthetic && isPublicInKotlin(it) }
    }

    /**
     * Kotlin's internal classes are public in bytecode: their metadata tells. A file facade (top-level
     * functions) is public to Java; a class Kotlin made for a lambda or a suspend function is no API.
     */
    private fun isPublicInKotlin(type: Class<*>): Boolean {
        val metadata = type.getAnnotation(Metadata::class.java) ?: return true
        return when (metadata.kind) {
            1 -> type.kotlin.visibility == KVisibility.PUBLIC
            2 -> true
            else -> false
        }
    }

    @Test
    fun `no public signature of dev_locksfile names a generated type`() {
        val classes = publicClasses()
        assertTrue(classes.any { it == LocksFile::class.java } && classes.any { it == LocksFileException.Deadlock::class.java }, "$classes")
        val leaks = mutableListOf<String>()
        for (type in classes) {
            // From Java: public and protected members that are not synthetic (Kotlin's internal members
            // carry a mangled name with a `$`; @JvmSynthetic hides the rest).
            val members = type.declaredMethods.filter { !it.isSynthetic && '$' !in it.name && (Modifier.isPublic(it.modifiers) || Modifier.isProtected(it.modifiers)) }
                .map { it.toGenericString() } +
                type.declaredConstructors.filter { !it.isSynthetic && Modifier.isPublic(it.modifiers) }.map { it.toGenericString() } +
                type.declaredFields.filter { !it.isSynthetic && Modifier.isPublic(it.modifiers) }.map { it.toGenericString() } +
                listOfNotNull(type.genericSuperclass?.typeName) + type.genericInterfaces.map { it.typeName }
            leaks += members.filter { "dev.locksfile.ffi" in it }.map { "${type.name}: $it" }
        }
        assertEquals(emptyList(), leaks)
    }
}
