//! What the Java syntax pass keeps of a file: owned, `Send` facts that the
//! resolution pass turns into graph nodes and edges.

/// One parsed `.java` file.
#[derive(Debug, Clone, Default)]
pub struct JavaFile {
    /// Path relative to the analyzed root, `/`-separated.
    pub rel_path: String,
    /// The `package` name (`org.example.owner`), empty for the default package.
    pub package: String,
    /// The imports, in order.
    pub imports: Vec<Import>,
    /// Every type declared in the file, nested ones included, outer first.
    pub types: Vec<TypeDecl>,
    /// Lines of source.
    pub lines: usize,
}

/// An `import` declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The dotted name, without `.*`.
    pub path: String,
    /// `import static`.
    pub is_static: bool,
    /// An on-demand import (`.*`).
    pub on_demand: bool,
}

/// A class, interface, enum, record or annotation type.
#[derive(Debug, Clone, Default)]
pub struct TypeDecl {
    /// The name inside its package: `Owner`, or `Owner.Builder` when nested.
    pub name: String,
    /// `class`, `interface`, `enum`, `record` or `annotation`.
    pub kind: &'static str,
    /// 1-based line of the declaration.
    pub line: u32,
    /// Annotations on the declaration.
    pub annotations: Vec<Annotation>,
    /// `extends` (one for a class, several for an interface).
    pub extends: Vec<TypeRef>,
    /// `implements`.
    pub implements: Vec<TypeRef>,
    /// Fields (record components included).
    pub fields: Vec<Field>,
    /// Methods and constructors.
    pub methods: Vec<Method>,
}

/// A type as written: `List<Owner>` is `List` with the argument `Owner`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeRef {
    /// The name as written (`Owner`, `java.util.List`, `Map.Entry`), no
    /// arguments and no array brackets.
    pub name: String,
    /// Type arguments.
    pub args: Vec<TypeRef>,
}

impl TypeRef {
    /// This type and every type argument in it, depth first.
    pub fn all(&self) -> Vec<&TypeRef> {
        let mut out = vec![self];
        for a in &self.args {
            out.extend(a.all());
        }
        out
    }
}

/// An annotation with its arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotation {
    /// The simple name (`GetMapping` for `@org.springframework...GetMapping`).
    pub name: String,
    /// Arguments by key; a single unnamed argument is `value`.
    pub args: Vec<(String, Vec<Value>)>,
    /// Annotations among the argument values, in order
    /// (`@NamedQueries({@NamedQuery(..), ..})`), up to two levels deep.
    pub nested: Vec<Annotation>,
    /// 1-based line.
    pub line: u32,
}

impl Annotation {
    /// The values of argument `key`, empty when absent.
    pub fn arg(&self, key: &str) -> &[Value] {
        self.args
            .iter()
            .find(|(k, _)| k == key)
            .map_or(&[], |(_, v)| v.as_slice())
    }
}

/// A constant expression as far as syntax shows: string pieces to be
/// concatenated, or a name to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A concatenation of pieces (one piece for a plain literal).
    Text(Vec<Piece>),
    /// Anything else (a number, a class literal, a call).
    Other,
}

/// One piece of a string concatenation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// A string literal's value.
    Lit(String),
    /// A name (`SQL`, `Queries.FIND`, `RequestMethod.GET`) that may be a
    /// constant.
    Name(String),
    /// Something that is not known statically.
    Unknown,
}

/// A field, or a record component.
#[derive(Debug, Clone, Default)]
pub struct Field {
    /// Its name.
    pub name: String,
    /// Its declared type.
    pub ty: TypeRef,
    /// Its annotations.
    pub annotations: Vec<Annotation>,
    /// `static final` with a constant initializer, as pieces.
    pub constant: Option<Vec<Piece>>,
}

/// A method or constructor with what its body does.
#[derive(Debug, Clone, Default)]
pub struct Method {
    /// Its name; constructors are `new`, which no Java method can be named.
    pub name: String,
    /// 1-based line.
    pub line: u32,
    /// Annotations.
    pub annotations: Vec<Annotation>,
    /// Parameters: name, type, annotations.
    pub params: Vec<(String, TypeRef, Vec<Annotation>)>,
    /// The return type (`None` for `void` and constructors).
    pub ret: Option<TypeRef>,
    /// Whether it is a constructor.
    pub is_constructor: bool,
    /// Local variables with a declared (or `new`-inferred) type.
    pub locals: Vec<(String, TypeRef)>,
    /// Local `String` variables initialised with a constant expression.
    pub local_strings: Vec<(String, Vec<Piece>)>,
    /// Calls and constructions in the body, in order.
    pub calls: Vec<Call>,
    /// Types named in the body (casts, `new`, locals, class literals).
    pub body_types: Vec<TypeRef>,
    /// Functional routes built in the body, when it returns a `RouterFunction`.
    pub fn_routes: Vec<FnRoute>,
}

/// A `WebFlux` (or `WebMvc.fn`) functional route: `route(GET("/x"), h::m)`,
/// `route().GET("/x", h::m)`, under any `nest(path(..), ..)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FnRoute {
    /// HTTP methods; empty for any.
    pub methods: Vec<String>,
    /// The path as pieces per nesting level, outermost first.
    pub path: Vec<Vec<Piece>>,
    /// The handler: a method reference's receiver and method name, or the
    /// call a lambda's body makes.
    pub handler: Option<(Receiver, String)>,
    /// 1-based line.
    pub line: u32,
}

/// What a call's receiver is, syntactically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receiver {
    /// No receiver: `m()`.
    Implicit,
    /// `this.m()`.
    This,
    /// `super.m()`.
    Super,
    /// A name or a dotted name: a local, a parameter, a field or a type
    /// (`owners.m()`, `Owner.m()`, `this.owners.m()` is `owners`).
    Name(String),
    /// Something else, such as another call's result.
    Expr,
}

/// A method call, a method reference or a constructor call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The receiver.
    pub receiver: Receiver,
    /// The method name; `new` for `new T(..)`, whose type is in `created`.
    pub name: String,
    /// The type of `new T(..)`.
    pub created: Option<TypeRef>,
    /// Each argument as string pieces when it is one (SQL, paths).
    pub args: Vec<Value>,
    /// 1-based line.
    pub line: u32,
}
